//! One AMQP connection per client, shared by all of its links.
//!
//! [`SharedConnection::lock`] hands out the live connection's session, opening a connection
//! first when there is none or the last one broke: TCP (with `TCP_NODELAY`), TLS for `amqps://`,
//! SASL ANONYMOUS, an idle timeout (the peer sends heartbeats), one session, then CBS
//! `put-token` with a SAS token for `sb://<host>/<hub>`.
//! A background task puts a fresh token every half token lifetime; a rejected token is an
//! [`EventHubError::Unauthorized`] naming the hub. Links that fail call
//! [`SharedConnection::invalidate`] with the generation they were attached on, so the next
//! `lock` reconnects (once, however many links failed).

use std::{
    sync::{Arc, Mutex as StdMutex},
    time::Duration,
};

use fe2o3_amqp::{
    connection::ConnectionHandle,
    sasl_profile::SaslProfile,
    session::SessionHandle,
    types::primitives::{SimpleValue, Value},
    Connection, Session,
};
use tokio::{
    net::TcpStream,
    sync::{MappedMutexGuard, Mutex, MutexGuard},
    task::JoinHandle,
};
use tracing::{debug, warn};

use crate::eventhub::{
    amqp::{request::RequestLink, sas::sas_token},
    connection::ConnectionConfig,
    error::EventHubError,
};

/// Longest opening a connection (TCP, TLS, SASL, open, begin, CBS) may take.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Session window (transfers in flight per direction); large so that window updates are rare.
const SESSION_WINDOW: u32 = 1 << 20;

/// Where to connect and how to authorise.
#[derive(Clone)]
pub struct Endpoint {
    /// The parsed connection string.
    pub connection: ConnectionConfig,
    /// The hub.
    pub hub: String,
    /// Lifetime of each SAS token; a new one is put every half lifetime.
    pub token_lifetime: Duration,
    /// A connection that received nothing (not even the peer's heartbeats, which it sends at
    /// half this) for this long is dropped and reopened: a stalled or half-open TCP connection
    /// does not hang the readers.
    pub idle_timeout: Duration,
}

impl Endpoint {
    /// The CBS audience and SAS resource: `sb://<host>/<hub>`.
    pub fn audience(&self) -> String {
        format!("sb://{}/{}", self.connection.host, self.hub)
    }

    fn token(&self) -> String {
        let lifetime = self.token_lifetime.as_secs().max(1) as i64;
        let expiry = chrono::Utc::now().timestamp() + lifetime;
        sas_token(
            &self.audience(),
            &self.connection.key_name,
            self.connection.key(),
            expiry,
        )
    }
}

/// An open connection with its session.
pub struct Live {
    /// Bumped on every reconnect; links remember the generation they were attached on.
    pub generation: u64,
    connection: ConnectionHandle<()>,
    /// The session every link of this client is attached to.
    pub session: SessionHandle<()>,
    management: Option<RequestLink>,
    token: Arc<StdMutex<String>>,
    refresh: JoinHandle<()>,
}

impl Live {
    fn is_broken(&self) -> bool {
        self.connection.is_closed() || self.session.is_ended() || self.refresh.is_finished()
    }

    /// The current SAS token (for `security_token` in management requests).
    pub fn token(&self) -> String {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `$management` request link, attached on first use.
    pub async fn management(&mut self) -> Result<&mut RequestLink, EventHubError> {
        if self.management.is_none() {
            self.management = Some(RequestLink::attach(&mut self.session, "$management").await?);
        }
        // Just set when it was none.
        Ok(self.management.as_mut().expect("attached above"))
    }

    fn shut_down(self) {
        self.refresh.abort();
        let Live {
            mut connection,
            mut session,
            management,
            ..
        } = self;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                if let Some(m) = management {
                    m.close().await;
                }
                let _ = session.end().await;
                let _ = connection.close().await;
            })
            .await;
        });
    }
}

/// The connection of one client (source or producer); see the [module docs](self).
pub struct SharedConnection {
    endpoint: Endpoint,
    live: Mutex<Option<Live>>,
    generations: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for SharedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConnection")
            .field("url", &self.endpoint.connection.amqp_url())
            .field("hub", &self.endpoint.hub)
            .finish_non_exhaustive()
    }
}

impl SharedConnection {
    /// A client for `endpoint`; connects on the first [`lock`](Self::lock).
    pub fn new(endpoint: Endpoint) -> Self {
        SharedConnection {
            endpoint,
            live: Mutex::new(None),
            generations: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The live connection, opened (again) if needed; hold the guard only while attaching.
    pub async fn lock(&self) -> Result<MappedMutexGuard<'_, Live>, EventHubError> {
        let mut guard = self.live.lock().await;
        let live = match guard.take() {
            Some(live) if !live.is_broken() => live,
            old => {
                if let Some(old) = old {
                    old.shut_down();
                }
                self.open().await?
            }
        };
        *guard = Some(live);
        Ok(MutexGuard::map(guard, |live| {
            live.as_mut().expect("set just above")
        }))
    }

    /// Drops the connection of `generation` (if it is still the live one), so that the next
    /// [`lock`](Self::lock) reconnects.
    pub async fn invalidate(&self, generation: u64) {
        let mut guard = self.live.lock().await;
        if guard.as_ref().is_some_and(|l| l.generation == generation) {
            if let Some(old) = guard.take() {
                debug!(generation, "dropping the Event Hubs connection");
                old.shut_down();
            }
        }
    }

    /// Closes the connection.
    pub async fn close(&self) {
        if let Some(live) = self.live.lock().await.take() {
            live.shut_down();
        }
    }

    async fn open(&self) -> Result<Live, EventHubError> {
        let url = self.endpoint.connection.amqp_url();
        let what = format!("connecting to {url}");
        tokio::time::timeout(OPEN_TIMEOUT, self.open_now())
            .await
            .map_err(|_| {
                EventHubError::client(
                    &what,
                    format!("no answer within {} s", OPEN_TIMEOUT.as_secs()),
                )
            })?
    }

    async fn open_now(&self) -> Result<Live, EventHubError> {
        let config = &self.endpoint.connection;
        let url = config.amqp_url();
        let failed =
            |e: &dyn std::fmt::Display| EventHubError::client(format!("connecting to {url}"), e);
        let port = config.port();
        let tcp = TcpStream::connect((config.host.as_str(), port))
            .await
            .map_err(|e| failed(&e))?;
        let _ = tcp.set_nodelay(true);
        let scheme = if config.development_emulator {
            "amqp"
        } else {
            "amqps"
        };
        let mut connection = Connection::builder()
            .container_id(format!("medallion-{}", uuid::Uuid::new_v4()))
            .scheme(scheme)
            .hostname(config.host.as_str())
            .sasl_hostname(config.host.as_str())
            .domain(config.host.as_str())
            .sasl_profile(SaslProfile::Anonymous)
            .idle_time_out(
                self.endpoint
                    .idle_timeout
                    .as_millis()
                    .clamp(1, u32::MAX as u128) as u32,
            )
            .open_with_stream(tcp)
            .await
            .map_err(|e| failed(&e))?;
        let mut session = Session::builder()
            .incoming_window(SESSION_WINDOW)
            .outgoing_window(SESSION_WINDOW)
            .begin(&mut connection)
            .await
            .map_err(|e| failed(&e))?;
        let mut cbs = RequestLink::attach(&mut session, "$cbs").await?;
        let token = put_token(&mut cbs, &self.endpoint).await?;
        let token = Arc::new(StdMutex::new(token));
        let refresh = tokio::spawn(refresh_tokens(cbs, self.endpoint.clone(), token.clone()));
        let generation = 1 + self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        debug!(%url, generation, "Event Hubs connection open");
        Ok(Live {
            generation,
            connection,
            session,
            management: None,
            token,
            refresh,
        })
    }
}

/// Puts a fresh token for the endpoint's hub; returns it.
async fn put_token(cbs: &mut RequestLink, endpoint: &Endpoint) -> Result<String, EventHubError> {
    let token = endpoint.token();
    let response = cbs
        .call(
            vec![
                ("operation", SimpleValue::String("put-token".into())),
                (
                    "type",
                    SimpleValue::String("servicebus.windows.net:sastoken".into()),
                ),
                ("name", SimpleValue::String(endpoint.audience())),
            ],
            Value::String(token.clone()),
        )
        .await?;
    match response.status {
        200 | 202 => Ok(token),
        status => Err(EventHubError::Unauthorized {
            hub: endpoint.hub.clone(),
            message: format!("the token was refused ({status} {})", response.description),
        }),
    }
}

/// Puts a new token every half lifetime until the connection fails or a token is refused.
async fn refresh_tokens(mut cbs: RequestLink, endpoint: Endpoint, current: Arc<StdMutex<String>>) {
    let period = (endpoint.token_lifetime / 2).max(Duration::from_millis(500));
    loop {
        tokio::time::sleep(period).await;
        match put_token(&mut cbs, &endpoint).await {
            Ok(token) => {
                debug!(hub = %endpoint.hub, "SAS token refreshed");
                *current.lock().unwrap_or_else(|e| e.into_inner()) = token;
            }
            Err(error) => {
                warn!(hub = %endpoint.hub, %error, "cannot refresh the SAS token");
                return;
            }
        }
    }
}
