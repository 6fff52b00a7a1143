//! amiroll core: domain types, configuration, the pure planner and the engine.
//!
//! The engine is a reconciler — observe → plan → apply → report — generic over the [`port::Aws`]
//! trait, so it runs against the real AWS SDK adapter (`amiroll-aws`) and the simulated account
//! (`amiroll-sim`) alike. Nothing in this crate performs I/O itself.

pub mod port;
