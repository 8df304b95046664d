//! medallion's own Event Hubs client on fe2o3-amqp 0.18: one shared connection per client
//! ([`shared`]), CBS with SAS tokens ([`sas`]), `$management` requests ([`management`]), the
//! consumer ([`consumer::AmqpConsumer`]) and the producer ([`producer::AmqpProducer`]) behind
//! the [`crate::eventhub::client`] traits.

pub mod consumer;
pub mod management;
pub mod producer;
pub mod request;
pub mod sas;
pub mod shared;

pub use consumer::AmqpConsumer;
pub use producer::AmqpProducer;
pub use shared::{Endpoint, SharedConnection};
