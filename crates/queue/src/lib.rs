//! The scale-out queue: Redis Streams between ingest nodes (which acknowledge once spans are
//! in Redis) and processor nodes (which run the engine and write the store, then
//! acknowledge the entry), and the live stream API nodes tail.
//!
//! Keys (all under `QueueConfig::prefix`): `:spans:<p>` span streams, one per partition
//! (a trace always lands in the same one); `:lease:<p>` who processes partition `p`;
//! `:processors` the processors' heartbeats; `:dead` undecodable entries; `:live` committed
//! batches for live subscribers.

pub mod codec;
#[cfg(feature = "runtime")]
mod config;
#[cfg(feature = "runtime")]
mod consumer;
mod error;
#[cfg(feature = "runtime")]
mod lease;
#[cfg(feature = "runtime")]
mod live;
#[cfg(feature = "runtime")]
mod metrics;
#[cfg(feature = "runtime")]
mod producer;

#[cfg(feature = "runtime")]
pub use codec::{decode_batch, encode_batch};
pub use codec::{decode_spans, encode_spans};
pub use error::QueueError;
#[cfg(feature = "runtime")]
pub use {
    config::QueueConfig,
    consumer::{Consumer, Handler, HandlerError},
    live::{LivePublisher, LiveReader},
    metrics::QueueMetrics,
    producer::{Producer, partition_of},
};
