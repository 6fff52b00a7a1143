//! Turning SDK errors into the port's [`AwsError`].

use amiroll_core::port::{AwsError, ErrorKind};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The kind of an AWS error, from its code and (when known) the HTTP status.
///
/// Codes come from the services' error lists ("Error codes for the Amazon EC2 API", the Auto
/// Scaling / SSM / SNS API references' "Errors" sections, "Common Errors"). EC2 has no modelled
/// errors, so matching on the code is the only way to tell them apart.
pub fn classify(code: &str, http_status: Option<u16>) -> ErrorKind {
    match code {
        // "Common Errors": throttling. Auto Scaling says `Throttling`, SSM `ThrottlingException`,
        // EC2 `RequestLimitExceeded` ("Request throttling for the Amazon EC2 API").
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "ThrottledException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "EC2ThrottledException"
        | "SlowDown" => return ErrorKind::Throttling,
        // Auto Scaling `ResourceContention` is modelled as HTTP 500; the rest are 5xx codes
        // (ECS `ServerException`: "These errors are usually caused by a server issue").
        "InternalError"
        | "ServerException"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable"
        | "ResourceContention"
        | "RequestTimeout"
        | "RequestTimeoutException" => return ErrorKind::Transient,
        // Auto Scaling `ActiveInstanceRefreshNotFound`: no refresh to cancel or roll back.
        "NotFound"
        | "ParameterNotFound"
        | "InvalidAMIID.NotFound"
        | "InvalidLaunchTemplateId.VersionNotFound"
        | "ActiveInstanceRefreshNotFound" => return ErrorKind::NotFound,
        "UnauthorizedOperation"
        | "AccessDenied"
        | "AccessDeniedException"
        | "AuthorizationError" => return ErrorKind::AccessDenied,
        "IdempotentParameterMismatch"
        | "AlreadyExists"
        | "InstanceRefreshInProgress"
        | "ScalingActivityInProgress"
        | "ResourceInUse" => return ErrorKind::Conflict,
        // Auto Scaling `IrreversibleInstanceRefresh`: a refresh that cannot be rolled back (no
        // desired configuration, `$Latest`/`$Default`, or an SSM-parameter AMI).
        "ValidationError" | "ValidationException" | "IrreversibleInstanceRefresh" => {
            return ErrorKind::Invalid
        }
        _ => {}
    }
    if code.ends_with(".NotFound") || code.ends_with("NotFoundException") {
        return ErrorKind::NotFound;
    }
    if code.contains(".AlreadyExists") {
        // e.g. `InvalidLaunchTemplateName.AlreadyExistsException`.
        return ErrorKind::Conflict;
    }
    if code.starts_with("InvalidParameter") || code.contains(".Malformed") {
        return ErrorKind::Invalid;
    }
    match http_status {
        Some(429) => ErrorKind::Throttling,
        Some(status) if status >= 500 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// One SDK error as the port's error for `operation` (an [`amiroll_core::port::op`] name).
pub fn from_sdk<E>(operation: &'static str, err: SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    if let Some(code) = err.code() {
        let message = match err.message() {
            Some(m) => m.to_owned(),
            None => DisplayErrorContext(&err).to_string(),
        };
        return AwsError::new(operation, classify(code, status), code, message);
    }
    let (kind, code) = match &err {
        SdkError::TimeoutError(_) => (ErrorKind::Transient, "TimeoutError".to_owned()),
        SdkError::DispatchFailure(d) if d.is_user() => {
            (ErrorKind::Other, "DispatchFailure".to_owned())
        }
        SdkError::DispatchFailure(_) => (ErrorKind::Transient, "DispatchFailure".to_owned()),
        SdkError::ConstructionFailure(_) => (ErrorKind::Invalid, "ConstructionFailure".to_owned()),
        _ => match status {
            Some(s) => (classify("", Some(s)), format!("HTTP{s}")),
            None => (ErrorKind::Other, "Unknown".to_owned()),
        },
    };
    AwsError::new(operation, kind, code, DisplayErrorContext(&err).to_string())
}

/// A response that lacks a member AWS always sends.
pub(crate) fn malformed(operation: &'static str, what: &str) -> AwsError {
    AwsError::new(
        operation,
        ErrorKind::Other,
        "MalformedResponse",
        format!("the response has no {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
        ] {
            assert_eq!(classify(code, Some(400)), ErrorKind::Throttling, "{code}");
        }
        assert_eq!(classify("", Some(429)), ErrorKind::Throttling);
    }

    #[test]
    fn transient_codes_and_5xx() {
        for code in [
            "InternalError",
            "ServiceUnavailable",
            "ResourceContention",
            "ServerException",
        ] {
            assert_eq!(classify(code, Some(500)), ErrorKind::Transient, "{code}");
            assert_eq!(classify(code, None), ErrorKind::Transient, "{code}");
        }
        assert_eq!(classify("SomethingNew", Some(503)), ErrorKind::Transient);
        assert_eq!(classify("SomethingNew", Some(500)), ErrorKind::Transient);
        assert_eq!(classify("SomethingNew", Some(400)), ErrorKind::Other);
        assert_eq!(classify("SomethingNew", None), ErrorKind::Other);
    }

    #[test]
    fn not_found_codes() {
        for code in [
            "NotFound",
            "ParameterNotFound",
            "InvalidAMIID.NotFound",
            "InvalidLaunchTemplateId.NotFound",
            "InvalidLaunchTemplateId.VersionNotFound",
            "InvalidLaunchTemplateName.NotFoundException",
            "InvalidInstanceID.NotFound",
            "ResourceNotFoundException",
            "ActiveInstanceRefreshNotFound",
            "ClusterNotFoundException",
            "TargetNotFoundException",
        ] {
            assert_eq!(classify(code, Some(400)), ErrorKind::NotFound, "{code}");
        }
    }

    #[test]
    fn access_denied_codes() {
        for code in [
            "UnauthorizedOperation",
            "AccessDenied",
            "AccessDeniedException",
            "AuthorizationError",
        ] {
            assert_eq!(classify(code, Some(403)), ErrorKind::AccessDenied, "{code}");
        }
    }

    #[test]
    fn conflict_codes() {
        for code in [
            "IdempotentParameterMismatch",
            "AlreadyExists",
            "InstanceRefreshInProgress",
            "ScalingActivityInProgress",
            "ResourceInUse",
            "InvalidLaunchTemplateName.AlreadyExistsException",
        ] {
            assert_eq!(classify(code, Some(400)), ErrorKind::Conflict, "{code}");
        }
    }

    #[test]
    fn invalid_codes() {
        for code in [
            "ValidationError",
            "ValidationException",
            "InvalidParameterValue",
            "InvalidParameterCombination",
            "InvalidParameter",
            "InvalidAMIID.Malformed",
            "InvalidLaunchTemplateId.Malformed",
            "InvalidLaunchTemplateName.MalformedException",
            "IrreversibleInstanceRefresh",
            "InvalidParameterException",
        ] {
            assert_eq!(classify(code, Some(400)), ErrorKind::Invalid, "{code}");
        }
    }

    #[test]
    fn a_code_wins_over_the_status() {
        // Auto Scaling `ResourceContention` is HTTP 500 and still transient; a 500 carrying a
        // not-found code is not retried.
        assert_eq!(
            classify("ParameterNotFound", Some(500)),
            ErrorKind::NotFound
        );
        assert_eq!(classify("Throttling", Some(503)), ErrorKind::Throttling);
        assert_eq!(classify("LimitExceeded", Some(400)), ErrorKind::Other);
    }

    #[test]
    fn dispatch_and_timeout_failures_are_transient() {
        use aws_sdk_ec2::error::ConnectorError;
        use aws_sdk_ec2::operation::describe_images::DescribeImagesError;

        let err: SdkError<DescribeImagesError> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        let mapped = from_sdk("ec2:DescribeImages", err);
        assert_eq!(mapped.kind, ErrorKind::Transient);
        assert_eq!(mapped.code, "DispatchFailure");
        assert_eq!(mapped.operation, "ec2:DescribeImages");
        assert!(
            mapped.message.contains("connection refused"),
            "{}",
            mapped.message
        );

        let err: SdkError<DescribeImagesError> = SdkError::timeout_error("too slow");
        let mapped = from_sdk("ec2:DescribeImages", err);
        assert_eq!(mapped.kind, ErrorKind::Transient);
        assert_eq!(mapped.code, "TimeoutError");
    }

    #[test]
    fn a_lifecycle_action_that_is_over_is_a_rejected_request_not_retried() {
        // "CompleteLifecycleAction" / "RecordLifecycleActionHeartbeat" for an instance with no
        // lifecycle action under way: HTTP 400 `ValidationError` "No active Lifecycle Action
        // found with instance ID …".
        let kind = classify("ValidationError", Some(400));
        assert_eq!(kind, ErrorKind::Invalid);
        assert!(!kind.is_retryable());
        // Limits (`LimitExceeded` for a 51st hook, ECS `AttributeLimitExceededException` for an
        // 11th custom attribute) are neither retried nor taken as invalid input.
        for code in ["LimitExceeded", "AttributeLimitExceededException"] {
            assert_eq!(classify(code, Some(400)), ErrorKind::Other, "{code}");
        }
    }
}
