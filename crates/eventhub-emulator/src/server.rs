//! Accept loop and per-connection/per-session handling.
//!
//! One port serves plain AMQP and TLS: a first byte of 0x16 (TLS handshake)
//! selects TLS, anything else is read as an AMQP or SASL protocol header.
//! Each connection runs the fe2o3 acceptor behind [`stream::pump`], which
//! normalises outgoing frames; sessions route each incoming attach to a
//! consumer, producer, `$management` or `$cbs` link task.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use fe2o3_amqp::{
    acceptor::sasl_acceptor::SaslServerFrame,
    acceptor::{
        ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerSessionHandle, SaslAcceptor,
        SessionAcceptor, SupportedReceiverSettleModes, SupportedSenderSettleModes,
    },
    types::{
        definitions::{AmqpError, ReceiverSettleMode, Role, SenderSettleMode},
        messaging::TargetArchetype,
        performatives::Attach,
        primitives::{Array, Symbol, Value},
        sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse},
    },
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};

use crate::{
    address::{entity_path, parse_address, Address},
    auth::Authorizations,
    hub::{Broker, OwnershipError},
    link::{self, amqp_error, Consumer, ProducerTarget, ReplyLink, ReplyLinks},
    selector, stream,
    substitute::Substitutions,
    tls::TlsMaterial,
};

/// Maximum message size announced on producer links (clients size their batches by it; 1 MiB
/// like the Standard tier).
pub const MAX_MESSAGE_SIZE: u64 = 1024 * 1024;

/// Attach property carrying a reader's owner level.
pub const EPOCH_PROPERTY: &str = "com.microsoft:epoch";

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// SASL acceptor offering ANONYMOUS and PLAIN, accepting any credentials
/// (authorization happens through `$cbs`).
#[derive(Debug, Clone, Default)]
pub struct EmulatorSasl;

impl SaslAcceptor for EmulatorSasl {
    fn mechanisms(&self) -> Array<Symbol> {
        Array::from(vec![Symbol::from("ANONYMOUS"), Symbol::from("PLAIN")])
    }

    fn on_init(&mut self, init: SaslInit) -> SaslServerFrame {
        let code = match init.mechanism.0.as_str() {
            "ANONYMOUS" | "PLAIN" | "MSSBCBS" => SaslCode::Ok,
            _ => SaslCode::Auth,
        };
        SaslServerFrame::Outcome(SaslOutcome {
            code,
            additional_data: None,
        })
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        })
    }
}

/// State shared by all connections of one emulator.
pub struct Shared {
    /// Hubs and their partitions.
    pub broker: Arc<Broker>,
    /// TLS certificate and acceptor.
    pub tls: TlsMaterial,
    /// Bumped to drop every open connection.
    pub kill: watch::Sender<u64>,
    /// Connections whose tasks (socket handler, pump) have not all ended.
    pub open_connections: Arc<AtomicUsize>,
}

/// Held by each task of one connection; the last one dropped counts the connection closed.
struct ConnectionToken(Arc<AtomicUsize>);

impl ConnectionToken {
    fn new(count: &Arc<AtomicUsize>) -> Arc<Self> {
        count.fetch_add(1, Ordering::SeqCst);
        Arc::new(Self(count.clone()))
    }
}

impl Drop for ConnectionToken {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections until `shutdown` flips.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let shared = shared.clone();
                    let token = ConnectionToken::new(&shared.open_connections);
                    tokio::spawn(async move {
                        if let Err(e) = handle_socket(tcp, shared, token).await {
                            tracing::debug!(%peer, error = %e, "connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

async fn handle_socket(
    tcp: TcpStream,
    shared: Arc<Shared>,
    token: Arc<ConnectionToken>,
) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no protocol header"))??;
    if n == 0 {
        return Ok(());
    }
    if first[0] == 0x16 {
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, shared.tls.acceptor.accept(tcp))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
            .map_err(std::io::Error::other)?;
        serve(tls, shared, token).await
    } else {
        serve(tcp, shared, token).await
    }
}

async fn read_header<S: AsyncRead + Unpin>(client: &mut S) -> std::io::Result<[u8; 8]> {
    let mut header = [0u8; 8];
    tokio::time::timeout(HANDSHAKE_TIMEOUT, client.read_exact(&mut header))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no protocol header"))??;
    Ok(header)
}

/// Reads the protocol header; `AMQP 2 1 0 0` (TLS negotiation, as fe2o3's
/// `amqps://` client sends it) is answered and upgraded to TLS in place.
async fn serve<S>(
    mut client: S,
    shared: Arc<Shared>,
    token: Arc<ConnectionToken>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header = read_header(&mut client).await?;
    if &header[..5] == b"AMQP\x02" {
        client.write_all(&header).await?;
        client.flush().await?;
        let mut tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, shared.tls.acceptor.accept(client))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
            .map_err(std::io::Error::other)?;
        let header = read_header(&mut tls).await?;
        serve_amqp(tls, header, shared, token).await
    } else {
        serve_amqp(client, header, shared, token).await
    }
}

async fn serve_amqp<S>(
    client: S,
    header: [u8; 8],
    shared: Arc<Shared>,
    token: Arc<ConnectionToken>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (engine, mut pump_end) = tokio::io::duplex(256 * 1024);
    pump_end.write_all(&header).await?;
    let state = ConnectionState::default();
    let pump = stream::pump(
        client,
        pump_end,
        shared.kill.subscribe(),
        state.substitutions.clone(),
    );
    let pump_token = token.clone();
    tokio::spawn(async move {
        pump.await;
        drop(pump_token);
    });

    let result = if &header[..4] == b"AMQP" && header[4] == 3 {
        ConnectionAcceptor::builder()
            .container_id("eventhubs-emulator")
            .sasl_acceptor(EmulatorSasl)
            .build()
            .accept(engine)
            .await
    } else {
        ConnectionAcceptor::builder()
            .container_id("eventhubs-emulator")
            .build()
            .accept(engine)
            .await
    };
    let mut connection = result.map_err(|e| std::io::Error::other(e.to_string()))?;
    let session_acceptor = SessionAcceptor::new();
    while let Some(incoming) = connection.next_incoming_session().await {
        match session_acceptor
            .accept_incoming_session(incoming, &mut connection)
            .await
        {
            Ok(session) => {
                tokio::spawn(run_session(session, shared.broker.clone(), state.clone()));
            }
            Err(e) => tracing::debug!(error = %e, "begin failed"),
        }
    }
    let _ = connection.close().await;
    Ok(())
}

/// fe2o3's link acceptor with its default dynamic-terminus handlers.
type DefaultLinkAcceptor = LinkAcceptor<
    fn(fe2o3_amqp::types::messaging::Source) -> Option<fe2o3_amqp::types::messaging::Source>,
    fn(fe2o3_amqp::types::messaging::Target) -> Option<fe2o3_amqp::types::messaging::Target>,
>;

/// Link acceptor for links where the emulator sends: always pre-settled.
fn sender_acceptor() -> DefaultLinkAcceptor {
    LinkAcceptor::builder()
        .supported_sender_settle_modes(SupportedSenderSettleModes::Settled)
        .fallback_sender_settle_mode(SenderSettleMode::Settled)
        .verify_incoming_source(false)
        .verify_incoming_target(false)
        .build()
}

/// Link acceptor for links where the emulator receives: settle mode
/// `first` and a 1 MiB max message size.
fn receiver_acceptor() -> DefaultLinkAcceptor {
    LinkAcceptor::builder()
        .supported_receiver_settle_modes(SupportedReceiverSettleModes::First)
        .fallback_receiver_settle_mode(ReceiverSettleMode::First)
        .max_message_size(MAX_MESSAGE_SIZE)
        .verify_incoming_source(false)
        .verify_incoming_target(false)
        .build()
}

/// What the sessions of one connection share.
#[derive(Debug, Clone, Default)]
pub struct ConnectionState {
    /// Placeholder table of the connection's pump.
    pub substitutions: Substitutions,
    /// Tokens put on the connection's `$cbs`.
    pub auth: Authorizations,
}

async fn run_session(
    mut session: ListenerSessionHandle,
    broker: Arc<Broker>,
    state: ConnectionState,
) {
    let replies = ReplyLinks::default();
    while let Some(attach) = session.next_incoming_attach().await {
        route_attach(attach, &mut session, &broker, &replies, &state).await;
    }
    let _ = session.end().await;
}

fn target_address(attach: &Attach) -> Option<String> {
    match attach.target.as_deref()? {
        TargetArchetype::Target(t) => t.address.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn epoch_of(attach: &Attach) -> Option<i64> {
    let value = attach
        .properties
        .as_ref()?
        .iter()
        .find(|(k, _)| k.0 == EPOCH_PROPERTY)
        .map(|(_, v)| v)?;
    match value {
        Value::Long(v) => Some(*v),
        Value::Int(v) => Some(i64::from(*v)),
        Value::Short(v) => Some(i64::from(*v)),
        Value::Uint(v) => Some(i64::from(*v)),
        Value::Ulong(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

/// Completes the attach with a null terminus and detaches with `error`,
/// the AMQP way of refusing a link.
async fn refuse(
    mut attach: Attach,
    session: &mut ListenerSessionHandle,
    error: fe2o3_amqp::types::definitions::Error,
) {
    tracing::debug!(link = %attach.name, ?error, "refusing link");
    match attach.role {
        Role::Receiver => {
            attach.source = None;
            if let Ok(LinkEndpoint::Sender(s)) = sender_acceptor()
                .accept_incoming_attach(attach, session)
                .await
            {
                let _ = s.close_with_error(error).await;
            }
        }
        Role::Sender => {
            attach.target = None;
            if let Ok(LinkEndpoint::Receiver(r)) = receiver_acceptor()
                .accept_incoming_attach(attach, session)
                .await
            {
                let _ = r.close_with_error(error).await;
            }
        }
    }
}

/// With a SAS key configured, the connection's authorisation for `hub` (an error naming the
/// hub when there is no valid token); `None` when tokens are not checked.
fn authorized(
    broker: &Broker,
    state: &ConnectionState,
    hub: &str,
) -> Result<Option<(Authorizations, String)>, fe2o3_amqp::types::definitions::Error> {
    if broker.sas_key.is_none() {
        return Ok(None);
    }
    match state.auth.expiry_for(hub, chrono::Utc::now().timestamp()) {
        Some(_) => Ok(Some((state.auth.clone(), hub.to_string()))),
        None => Err(amqp_error(
            AmqpError::UnauthorizedAccess,
            format!("no valid SAS token for event hub {hub:?} on this connection (put one on $cbs first)"),
        )),
    }
}

fn not_found(what: String) -> fe2o3_amqp::types::definitions::Error {
    amqp_error(AmqpError::NotFound, what)
}

async fn route_attach(
    attach: Attach,
    session: &mut ListenerSessionHandle,
    broker: &Arc<Broker>,
    replies: &ReplyLinks,
    state: &ConnectionState,
) {
    match attach.role {
        // The client receives: consumer or reply link.
        Role::Receiver => accept_client_receiver(attach, session, broker, replies, state).await,
        // The client sends: producer or request link.
        Role::Sender => accept_client_sender(attach, session, broker, replies, state).await,
    }
}

/// A link on which the client receives: a `$management` / `$cbs` reply link or a consumer.
async fn accept_client_receiver(
    attach: Attach,
    session: &mut ListenerSessionHandle,
    broker: &Arc<Broker>,
    replies: &ReplyLinks,
    state: &ConnectionState,
) {
    let source = attach
        .source
        .as_ref()
        .and_then(|s| s.address.clone())
        .unwrap_or_default();
    match parse_address(&source) {
        Address::Management | Address::Cbs => {
            let node = entity_path(&source).to_string();
            let address = target_address(&attach);
            if let Ok(LinkEndpoint::Sender(sender)) = sender_acceptor()
                .accept_incoming_attach(attach, session)
                .await
            {
                let (tx, rx) = mpsc::channel(64);
                replies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(ReplyLink { node, address, tx });
                tokio::spawn(link::run_reply_link(sender, rx));
            }
        }
        Address::Consumer(hub_name, cg, pid) => {
            let target = ConsumerTarget {
                hub_name,
                consumer_group: cg,
                partition: pid,
            };
            accept_consumer(attach, session, broker, target, state).await
        }
        _ => {
            let msg = format!("cannot read from {source:?}");
            refuse(attach, session, not_found(msg)).await
        }
    }
}

/// A consumer link on `<hub>/ConsumerGroups/<cg>/Partitions/<pid>`: checks the hub, consumer
/// group, partition, start position and owner level, then serves the partition.
/// What a consumer link's address names.
struct ConsumerTarget<'a> {
    hub_name: &'a str,
    consumer_group: &'a str,
    partition: &'a str,
}

async fn accept_consumer(
    attach: Attach,
    session: &mut ListenerSessionHandle,
    broker: &Arc<Broker>,
    target: ConsumerTarget<'_>,
    state: &ConnectionState,
) {
    let ConsumerTarget {
        hub_name,
        consumer_group: cg,
        partition: pid,
    } = target;
    let Some(hub) = broker.hub(hub_name).cloned() else {
        return refuse(
            attach,
            session,
            not_found(format!("event hub {hub_name:?} not found")),
        )
        .await;
    };
    if !hub.has_consumer_group(cg) {
        return refuse(
            attach,
            session,
            not_found(format!("consumer group {cg:?} not found in {hub_name:?}")),
        )
        .await;
    }
    let Some(partition) = hub.partition(pid).cloned() else {
        return refuse(
            attach,
            session,
            not_found(format!("partition {pid:?} not found in {hub_name:?}")),
        )
        .await;
    };
    let auth = match authorized(broker, state, hub_name) {
        Ok(auth) => auth,
        Err(error) => return refuse(attach, session, error).await,
    };
    let filter = attach.source.as_ref().and_then(|s| s.filter.as_ref());
    let start = match selector::start_position(filter) {
        Ok(s) => s,
        Err(e) => return refuse(attach, session, amqp_error(AmqpError::InvalidField, e)).await,
    };
    let consumer_group = cg.to_string();
    let reader_id = broker.next_id();
    let stolen =
        match hub.register_reader(&consumer_group, partition.id, reader_id, epoch_of(&attach)) {
            Ok(rx) => rx,
            Err(OwnershipError::LowerEpoch { current }) => {
                let msg = format!(
                    "a reader with owner level {current} holds partition {pid} of consumer group \
                 {consumer_group}"
                );
                return refuse(
                    attach,
                    session,
                    amqp_error(AmqpError::PreconditionFailed, msg),
                )
                .await;
            }
        };
    match sender_acceptor()
        .accept_incoming_attach(attach, session)
        .await
    {
        Ok(LinkEndpoint::Sender(sender)) => {
            let consumer = Consumer {
                hub,
                partition,
                consumer_group,
                reader_id,
                stolen,
                start,
                substitutions: state.substitutions.clone(),
                auth,
            };
            tokio::spawn(consumer.run(sender));
        }
        _ => hub.unregister_reader(&consumer_group, partition.id, reader_id),
    }
}

/// A link on which the client sends: a `$management` / `$cbs` request link or a producer (to
/// the hub or to one partition).
async fn accept_client_sender(
    attach: Attach,
    session: &mut ListenerSessionHandle,
    broker: &Arc<Broker>,
    replies: &ReplyLinks,
    state: &ConnectionState,
) {
    let target = target_address(&attach).unwrap_or_default();
    let (hub_name, producer_target) = match parse_address(&target) {
        Address::Management | Address::Cbs => {
            let node = entity_path(&target).to_string();
            if let Ok(LinkEndpoint::Receiver(receiver)) = receiver_acceptor()
                .accept_incoming_attach(attach, session)
                .await
            {
                tokio::spawn(link::run_request_link(
                    broker.clone(),
                    node,
                    replies.clone(),
                    receiver,
                    state.auth.clone(),
                ));
            }
            return;
        }
        Address::Hub(hub) => (hub, None),
        Address::Partition(hub, pid) => (hub, Some(pid)),
        _ => {
            let msg = format!("cannot send to {target:?}");
            return refuse(attach, session, not_found(msg)).await;
        }
    };
    let Some(hub) = broker.hub(hub_name).cloned() else {
        return refuse(
            attach,
            session,
            not_found(format!("event hub {hub_name:?} not found")),
        )
        .await;
    };
    if let Err(error) = authorized(broker, state, hub_name) {
        return refuse(attach, session, error).await;
    }
    let producer_target = match producer_target {
        None => ProducerTarget::Hub,
        Some(pid) => match hub.partition(pid) {
            Some(p) => ProducerTarget::Partition(p.clone()),
            None => {
                return refuse(
                    attach,
                    session,
                    not_found(format!("partition {pid:?} not found in {hub_name:?}")),
                )
                .await
            }
        },
    };
    if let Ok(LinkEndpoint::Receiver(receiver)) = receiver_acceptor()
        .accept_incoming_attach(attach, session)
        .await
    {
        tokio::spawn(link::run_producer(hub, producer_target, receiver));
    }
}
