//! Link tasks: consumer links (the emulator sends events), producer links
//! (the emulator stores events) and the request/reply links of the
//! `$management` and `$cbs` nodes.

use std::{sync::Arc, time::Duration};

use fe2o3_amqp::{
    link::{delivery::Sendable, Receiver, RecvError, Sender},
    types::{
        definitions::{AmqpError, Error as AmqpErrorFrame, LinkError},
        messaging::{Body, Data},
        primitives::Value,
    },
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::{
    auth::Authorizations,
    cbs,
    hub::{Broker, Hub, Partition},
    log::{annotation, decode_message, AmqpMessage, PARTITION_KEY},
    management,
    selector::StartPosition,
    substitute::{Substitutions, MAX_SUBSTITUTED},
};

/// Message format of an Event Hubs batch: the body is a sequence of Data
/// sections, each holding one encoded AMQP message.
pub const BATCH_MESSAGE_FORMAT: u32 = 0x8001_3700;

/// Builds an AMQP error.
pub fn amqp_error(
    condition: impl Into<fe2o3_amqp::types::definitions::ErrorCondition>,
    description: impl Into<String>,
) -> AmqpErrorFrame {
    AmqpErrorFrame::new(condition, Some(description.into()), None)
}

/// A consumer link bound to one partition of one consumer group.
pub struct Consumer {
    /// The hub.
    pub hub: Arc<Hub>,
    /// The partition.
    pub partition: Arc<Partition>,
    /// Consumer group (for owner-level bookkeeping).
    pub consumer_group: String,
    /// Reader id registered with the hub.
    pub reader_id: u64,
    /// Fires when a reader with a higher owner level takes the partition.
    pub stolen: oneshot::Receiver<()>,
    /// Where to start.
    pub start: StartPosition,
    /// The connection's placeholder table (see [`crate::substitute`]).
    pub substitutions: Substitutions,
    /// With SAS checks on: the connection's tokens and the hub they must cover; the link is
    /// closed when the last covering token expires.
    pub auth: Option<(Authorizations, String)>,
}

/// Watches the connection's tokens for one hub: [`TokenWatch::expired`] returns once none is
/// valid any more (never without SAS checks). The expiry is looked up only when the last one
/// known is reached, not per event sent.
struct TokenWatch {
    auth: Option<(Authorizations, String)>,
    /// When the token known to cover the hub runs out (looked up again then).
    until: Option<tokio::time::Instant>,
}

impl TokenWatch {
    async fn expired(&mut self) {
        let Some((auth, hub)) = &self.auth else {
            return std::future::pending().await;
        };
        loop {
            if let Some(until) = self.until {
                tokio::time::sleep_until(until).await;
            }
            let now = chrono::Utc::now().timestamp();
            let Some(expiry) = auth.expiry_for(hub, now) else {
                return;
            };
            // Tokens are valid through their expiry second.
            let left = Duration::from_secs((expiry + 1 - now).max(0) as u64);
            self.until = Some(tokio::time::Instant::now() + left);
        }
    }
}

/// Why a consumer link was ended by the emulator.
enum Ending {
    Expired,
    Stolen,
}

impl Consumer {
    /// Streams events to the client, honouring link credit (the send waits
    /// for credit, so nothing is buffered beyond one event), until the
    /// client detaches, the connection drops, the partition is stolen or
    /// the connection's token for the hub expires.
    pub async fn run(self, mut sender: Sender) {
        let (hub, partition) = (self.hub.clone(), self.partition.clone());
        let (consumer_group, reader_id) = (self.consumer_group.clone(), self.reader_id);
        let error = match self.serve(&mut sender).await {
            Some(Ending::Expired) => Some(amqp_error(
                AmqpError::UnauthorizedAccess,
                format!("the SAS token for event hub {:?} expired", hub.name),
            )),
            Some(Ending::Stolen) => Some(amqp_error(
                LinkError::Stolen,
                "a reader with a higher owner level took the partition",
            )),
            None => None,
        };
        hub.unregister_reader(&consumer_group, partition.id, reader_id);
        let _ = match error {
            Some(error) => sender.close_with_error(error).await,
            None => sender.close().await,
        };
    }

    /// Sends events until the link or connection ends (`None`) or the emulator ends it.
    async fn serve(self, sender: &mut Sender) -> Option<Ending> {
        let Consumer {
            partition,
            mut stolen,
            start,
            substitutions,
            auth,
            ..
        } = self;
        let mut tokens = TokenWatch { auth, until: None };
        let mut appended: watch::Receiver<usize> = partition.subscribe();
        let mut next = start.resolve(&partition.log());
        let mut buffered = std::collections::VecDeque::new();
        loop {
            if buffered.is_empty() {
                buffered.extend(partition.log().deliveries(next, 256));
            }
            match buffered.front() {
                Some(event) => {
                    let sendable = if event.encoded.len() <= MAX_SUBSTITUTED {
                        substitutions.placeholder(event.encoded.clone())
                    } else {
                        event.sendable()?
                    };
                    tokio::select! {
                        res = sender.send(sendable) => {
                            res.ok()?;
                            next = event.sequence_number as usize + 1;
                            buffered.pop_front();
                        }
                        _ = tokens.expired() => return Some(Ending::Expired),
                        _ = &mut stolen => return Some(Ending::Stolen),
                    }
                }
                None => {
                    appended.mark_unchanged();
                    if partition.log().end() > next {
                        continue;
                    }
                    tokio::select! {
                        changed = appended.changed() => changed.ok()?,
                        _ = sender.on_detach() => return None,
                        _ = tokens.expired() => return Some(Ending::Expired),
                        _ = &mut stolen => return Some(Ending::Stolen),
                    }
                }
            }
        }
    }
}

/// Where a producer link sends its events.
pub enum ProducerTarget {
    /// `<hub>`: by partition key, else round robin.
    Hub,
    /// `<hub>/Partitions/<id>`.
    Partition(Arc<Partition>),
}

fn partition_key(message: &AmqpMessage) -> Option<String> {
    match annotation(message, PARTITION_KEY)? {
        Value::String(s) => Some(s.clone()),
        Value::Symbol(s) => Some(s.0.clone()),
        _ => None,
    }
}

/// A delivery's events and its keys.
struct Unpacked {
    events: Vec<AmqpMessage>,
    /// The delivery's own partition key (a batch's envelope): the service gives it to every
    /// event of the batch that has none of its own.
    envelope_key: Option<String>,
    /// What a delivery to the hub is routed by: the envelope's key, else the first event's.
    route_key: Option<String>,
}

/// Splits a delivery into the events it carries: a batch (message format
/// 0x80013700) holds one encoded message per Data section.
fn unpack(message: AmqpMessage, message_format: Option<u32>) -> Result<Unpacked, String> {
    let key = partition_key(&message);
    if message_format != Some(BATCH_MESSAGE_FORMAT) {
        return Ok(Unpacked {
            events: vec![message],
            envelope_key: key.clone(),
            route_key: key,
        });
    }
    let Body::Data(sections) = message.body else {
        return Err("batch body must consist of data sections".into());
    };
    let events = sections
        .into_iter()
        .map(|Data(bytes)| {
            decode_message(&bytes).ok_or_else(|| "batch entry is not an AMQP message".to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let route_key = key
        .clone()
        .or_else(|| events.iter().find_map(partition_key));
    Ok(Unpacked {
        events,
        envelope_key: key,
        route_key,
    })
}

/// Stores every delivery of a producer link and accepts it.
pub async fn run_producer(hub: Arc<Hub>, target: ProducerTarget, mut receiver: Receiver) {
    loop {
        let delivery = match receiver.recv::<Body<Value>>().await {
            Ok(d) => d,
            Err(RecvError::MessageDecode(e)) => {
                let _ = receiver
                    .close_with_error(amqp_error(
                        AmqpError::DecodeError,
                        format!("cannot decode message: {e}"),
                    ))
                    .await;
                return;
            }
            Err(_) => break,
        };
        let format = *delivery.message_format();
        let (info, message) = delivery.into_parts();
        let outcome = unpack(message, format).and_then(|u| {
            let partition = match &target {
                ProducerTarget::Partition(p) => p,
                ProducerTarget::Hub => hub.route(u.route_key.as_deref()),
            };
            partition
                .append(u.events, u.envelope_key.as_deref())
                .map_err(|e| e.to_string())
        });
        let disposed = match outcome {
            Ok(_) => receiver.accept(info).await,
            Err(reason) => {
                receiver
                    .reject(info, amqp_error(AmqpError::InvalidField, reason))
                    .await
            }
        };
        if disposed.is_err() {
            break;
        }
    }
    let _ = receiver.close().await;
}

/// A reply link of a session: the client's receiver on `$management`/`$cbs`.
#[derive(Debug)]
pub struct ReplyLink {
    /// Node the link reads from (its source address).
    pub node: String,
    /// The client's address for it (its target address), matched with `reply-to`.
    pub address: Option<String>,
    /// Queue of responses.
    pub tx: mpsc::Sender<AmqpMessage>,
}

/// Reply links of one session.
pub type ReplyLinks = Arc<std::sync::Mutex<Vec<ReplyLink>>>;

/// Sends queued responses on a reply link.
pub async fn run_reply_link(mut sender: Sender, mut rx: mpsc::Receiver<AmqpMessage>) {
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                let sendable = Sendable::builder().message(msg).settled(true).build();
                if sender.send(sendable).await.is_err() {
                    return;
                }
            }
            _ = sender.on_detach() => return,
        }
    }
    let _ = sender.close().await;
}

fn find_reply(
    links: &ReplyLinks,
    node: &str,
    reply_to: Option<&str>,
) -> Option<mpsc::Sender<AmqpMessage>> {
    let mut links = links.lock().unwrap_or_else(|e| e.into_inner());
    links.retain(|l| !l.tx.is_closed());
    let by_address = reply_to.and_then(|r| links.iter().find(|l| l.address.as_deref() == Some(r)));
    by_address
        .or_else(|| links.iter().rev().find(|l| l.node == node))
        .map(|l| l.tx.clone())
}

/// Serves requests sent to `$management` or `$cbs` on a client's sender link.
pub async fn run_request_link(
    broker: Arc<Broker>,
    node: String,
    replies: ReplyLinks,
    mut receiver: Receiver,
    auth: Authorizations,
) {
    loop {
        let delivery = match receiver.recv::<Body<Value>>().await {
            Ok(d) => d,
            Err(RecvError::MessageDecode(_)) => {
                let _ = receiver
                    .close_with_error(amqp_error(AmqpError::DecodeError, "cannot decode request"))
                    .await;
                return;
            }
            Err(_) => break,
        };
        let (info, request) = delivery.into_parts();
        if receiver.accept(info).await.is_err() {
            break;
        }
        let response = if node == cbs::CBS_ADDRESS {
            cbs::handle_request(&broker, &auth, &request)
        } else {
            management::handle_request(&broker, &request)
        };
        let reply_to = request.properties.as_ref().and_then(|p| p.reply_to.clone());
        // The client may attach its reply link right after sending.
        let mut tx = None;
        for _ in 0..100 {
            tx = find_reply(&replies, &node, reply_to.as_deref());
            if tx.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match tx {
            Some(tx) => {
                let _ = tx.send(response).await;
            }
            None => tracing::warn!(node, "no reply link for request; response dropped"),
        }
    }
    let _ = receiver.close().await;
}
