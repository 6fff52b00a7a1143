//! Amazon SNS: the topic check and the notifications.

use std::collections::HashMap;

use amiroll_core::port::{op, AwsError, ErrorKind, Notification};

use crate::convert::required;
use crate::error::from_sdk;

/// "GetTopicAttributes" (Amazon SNS API Reference): a missing topic is `NotFound`.
pub(crate) async fn get_topic_attributes(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
) -> Result<(), AwsError> {
    client
        .get_topic_attributes()
        .topic_arn(topic_arn)
        .send()
        .await
        .map_err(|e| from_sdk(op::GET_TOPIC_ATTRIBUTES, e))?;
    Ok(())
}

/// "Publish" (Amazon SNS API Reference) with `TopicArn`, `Subject`, `Message` and String
/// message attributes.
pub(crate) async fn publish(
    client: &aws_sdk_sns::Client,
    notification: &Notification,
) -> Result<String, AwsError> {
    let mut attributes = HashMap::new();
    for (name, value) in &notification.attributes {
        let value = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| {
                AwsError::new(
                    op::PUBLISH,
                    ErrorKind::Invalid,
                    "InvalidParameter",
                    e.to_string(),
                )
            })?;
        attributes.insert(name.clone(), value);
    }
    let out = client
        .publish()
        .topic_arn(&notification.topic_arn)
        .subject(&notification.subject)
        .message(&notification.message)
        .set_message_attributes((!attributes.is_empty()).then_some(attributes))
        .send()
        .await
        .map_err(|e| from_sdk(op::PUBLISH, e))?;
    Ok(required(out.message_id(), op::PUBLISH, "MessageId")?.to_owned())
}
