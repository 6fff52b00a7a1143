//! `bootstrap`: amiroll on AWS Lambda (`provided.al2023`).
//!
//! Wires the real AWS adapter, reads the configuration from the environment on every invocation
//! (so a changed SSM parameter takes effect without a redeploy), and hands each event to
//! [`amiroll_lambda::handle`]. Logs are JSON lines on stdout, which Lambda sends to CloudWatch Logs.

use amiroll_aws::{AwsAdapter, ConnectOptions};
use amiroll_core::port::Timestamp;
use amiroll_lambda::{handle_until, load_config, HandlerError, Summary};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    // The standard chain: Lambda sets AWS_REGION and the role's credentials in the environment.
    let aws = AwsAdapter::load(&ConnectOptions::default())
        .await
        .map_err(|e| {
            let e = HandlerError::Connect(e.to_string());
            tracing::error!(error_type = e.error_type(), "{e}");
            e
        })?;
    let aws = &aws;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        invoke(aws, event).await
    }))
    .await
}

async fn invoke(aws: &AwsAdapter, event: LambdaEvent<Value>) -> Result<Summary, HandlerError> {
    let env = |name: &str| std::env::var(name).ok();
    // The invocation's deadline (the runtime API's `Lambda-Runtime-Deadline-Ms`, "Using the Lambda
    // runtime API for custom runtimes",
    // https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): the engine stops starting
    // actions shortly before it, on the adapter's clock (the wall clock).
    let deadline = Timestamp::from(event.context.deadline());
    let result = match load_config(aws, &env).await {
        Ok(config) => match scoped(&config).await {
            // The configuration's own SDK retry settings (`aws_max_attempts`, `aws_retry_mode`):
            // the SDK is the one retry layer for throttling and 5xx (docs/architecture.md).
            Ok(Some(own)) => handle_until(&own, config, &event.payload, Some(deadline)).await,
            Ok(None) => handle_until(aws, config, &event.payload, Some(deadline)).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        tracing::error!(error_type = e.error_type(), "{e}");
    }
    result
}

/// An adapter with the configuration's SDK retry settings, when it has any (else the one made at
/// start-up, with the SDK's defaults and `AWS_MAX_ATTEMPTS`/`AWS_RETRY_MODE`, serves).
async fn scoped(config: &amiroll_core::config::Config) -> Result<Option<AwsAdapter>, HandlerError> {
    let adaptive = config.scope.aws_retry_mode == amiroll_core::config::RetryMode::Adaptive;
    if config.scope.aws_max_attempts.is_none() && !adaptive {
        return Ok(None);
    }
    let options = ConnectOptions {
        max_attempts: config.scope.aws_max_attempts,
        retry_mode_adaptive: adaptive,
        ..ConnectOptions::default()
    };
    AwsAdapter::load(&options)
        .await
        .map(Some)
        .map_err(|e| HandlerError::Connect(e.to_string()))
}

/// JSON lines on stdout, no colours. Level: `AMIROLL_LOG` (an EnvFilter directive), else Lambda's
/// own `AWS_LAMBDA_LOG_LEVEL` (advanced logging controls), else `info`.
fn init_logging() {
    let directive = std::env::var("AMIROLL_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|l| {
                match l.to_ascii_lowercase().as_str() {
                    "fatal" => "error".to_string(),
                    other => other.to_string(),
                }
            })
        })
        .unwrap_or_else(|| "info".to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&directive)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        // Event fields stay under "fields": the engine's own `target` field (an amiroll target)
        // would otherwise collide with the subscriber's `target` (the Rust module).
        .flatten_event(false)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}
