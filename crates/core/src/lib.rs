//! amiroll core: domain types, configuration, the pure planner and the engine.
//!
//! The engine is a reconciler — observe → plan → apply → report — generic over the [`port::Aws`]
//! trait, so it runs against the real AWS SDK adapter (`amiroll-aws`) and the simulated account
//! (`amiroll-sim`) alike. Nothing in this crate performs I/O itself.

pub mod config;
pub mod ecs;
pub mod engine;
pub mod fleet;
pub mod gates;
pub mod iam;
pub mod model;
pub mod notify;
pub mod output;
pub mod planner;
pub mod port;
pub mod refusal;
pub mod render;
pub mod rollback;
pub mod state;

pub use config::{Config, ConfigError, Strategy, Target, TargetSettings};
pub use engine::{Engine, RetryPolicy, RunError};
pub use model::{ApplyReport, Plan, TargetOutcome, TargetPlan, TargetStatus};
pub use refusal::Refusal;
