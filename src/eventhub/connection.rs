//! Event Hubs connection strings.
//!
//! Accepted form (fields separated by `;`, names case-insensitive, order free, unknown fields
//! ignored):
//!
//! ```text
//! Endpoint=sb://HOST[:PORT]/;SharedAccessKeyName=NAME;SharedAccessKey=KEY[;EntityPath=HUB][;UseDevelopmentEmulator=true]
//! ```
//!
//! With `UseDevelopmentEmulator=true` the client connects with plain AMQP to `amqp://HOST:PORT`
//! (port 5672 when absent). Otherwise it connects to the real service with TLS
//! (`amqps://HOST:PORT`, port 5671 when absent). The key is never printed: [`ConnectionConfig`]'s
//! `Debug` redacts it.

use crate::eventhub::error::EventHubError;

/// Default AMQP port with TLS (the real service).
pub const AMQPS_PORT: u16 = 5671;
/// Default plain AMQP port (the emulator).
pub const AMQP_PORT: u16 = 5672;

/// A parsed connection string.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Namespace host, e.g. `myns.servicebus.windows.net` or `localhost`.
    pub host: String,
    /// Port given in the endpoint, if any.
    pub port: Option<u16>,
    /// `SharedAccessKeyName`.
    pub key_name: String,
    key: String,
    /// `EntityPath` (the hub name), if given.
    pub entity_path: Option<String>,
    /// `UseDevelopmentEmulator=true`: plain AMQP to the given host and port.
    pub development_emulator: bool,
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("key_name", &self.key_name)
            .field("key", &"<redacted>")
            .field("entity_path", &self.entity_path)
            .field("development_emulator", &self.development_emulator)
            .finish()
    }
}

impl std::str::FromStr for ConnectionConfig {
    type Err = EventHubError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl ConnectionConfig {
    /// Parses a connection string; errors name the missing or bad field, never the key.
    pub fn parse(connection_string: &str) -> Result<Self, EventHubError> {
        let mut endpoint = None;
        let mut key_name = None;
        let mut key = None;
        let mut entity_path = None;
        let mut emulator = false;
        for part in connection_string
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (name, value) =
                part.split_once('=')
                    .ok_or_else(|| EventHubError::InvalidField {
                        field: "connection string",
                        reason: "every field must look like Name=Value".into(),
                    })?;
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(value.to_string()),
                "sharedaccesskeyname" => key_name = Some(value.to_string()),
                "sharedaccesskey" => key = Some(value.to_string()),
                "entitypath" => entity_path = Some(value.to_string()).filter(|v| !v.is_empty()),
                "usedevelopmentemulator" => {
                    emulator = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(EventHubError::InvalidField {
                                field: "UseDevelopmentEmulator",
                                reason: format!("expected true or false, got '{value}'"),
                            })
                        }
                    }
                }
                "sharedaccesssignature" => {
                    return Err(EventHubError::InvalidField {
                        field: "SharedAccessSignature",
                        reason: "SAS signatures are not supported, give SharedAccessKeyName and SharedAccessKey".into(),
                    })
                }
                _ => {}
            }
        }
        let endpoint = endpoint.ok_or(EventHubError::MissingField("Endpoint"))?;
        let (host, port) = parse_endpoint(&endpoint)?;
        let key_name = key_name
            .filter(|k| !k.is_empty())
            .ok_or(EventHubError::MissingField("SharedAccessKeyName"))?;
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or(EventHubError::MissingField("SharedAccessKey"))?;
        Ok(ConnectionConfig {
            host,
            port,
            key_name,
            key,
            entity_path,
            development_emulator: emulator,
        })
    }

    /// The AMQP URL to connect to: `amqp://` for the emulator, `amqps://` for the service.
    pub fn amqp_url(&self) -> String {
        if self.development_emulator {
            format!("amqp://{}:{}", self.host, self.port())
        } else {
            format!("amqps://{}:{}", self.host, self.port())
        }
    }

    /// The port to connect to (the endpoint's, else 5672 for the emulator and 5671 for TLS).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.development_emulator {
            AMQP_PORT
        } else {
            AMQPS_PORT
        })
    }

    /// The shared access key (never logged).
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The hub to use: `hub` if given, else `EntityPath`; an error when neither is set or both are
    /// set and differ.
    pub fn hub_name(&self, hub: Option<&str>) -> Result<String, EventHubError> {
        match (hub.filter(|h| !h.is_empty()), self.entity_path.as_deref()) {
            (Some(h), Some(e)) if h != e => Err(EventHubError::HubName(format!(
                "'{h}' was requested but the connection string's EntityPath is '{e}'"
            ))),
            (Some(h), _) => Ok(h.to_string()),
            (None, Some(e)) => Ok(e.to_string()),
            (None, None) => Err(EventHubError::HubName(
                "no hub name given and the connection string has no EntityPath".into(),
            )),
        }
    }
}

fn parse_endpoint(endpoint: &str) -> Result<(String, Option<u16>), EventHubError> {
    let invalid = |reason: String| EventHubError::InvalidField {
        field: "Endpoint",
        reason,
    };
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| invalid(format!("expected sb://HOST[:PORT], got '{endpoint}'")))?;
    if !matches!(
        scheme.to_ascii_lowercase().as_str(),
        "sb" | "amqp" | "amqps"
    ) {
        return Err(invalid(format!("scheme must be sb://, got '{scheme}://'")));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| invalid(format!("bad port '{port}'")))?;
            (host, Some(port))
        }
        None => (authority, None),
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(invalid(format!("bad host '{host}'")));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMU: &str = "Endpoint=sb://localhost:5673;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;";

    #[test]
    fn emulator_string_uses_plain_amqp_on_its_port() {
        let c = ConnectionConfig::parse(EMU).unwrap();
        assert_eq!(c.host, "localhost");
        assert_eq!(c.port, Some(5673));
        assert!(c.development_emulator);
        assert_eq!(c.amqp_url(), "amqp://localhost:5673");
        assert_eq!(c.port(), 5673);
    }

    #[test]
    fn service_string_uses_tls_default_port() {
        let c = ConnectionConfig::parse(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=abc=;EntityPath=hub",
        )
        .unwrap();
        assert_eq!(c.amqp_url(), "amqps://ns.servicebus.windows.net:5671");
        assert_eq!(c.port(), 5671);
        assert_eq!(c.hub_name(None).unwrap(), "hub");
        assert!(c.hub_name(Some("other")).is_err());
        assert_eq!(c.key(), "abc=");
    }

    #[test]
    fn debug_redacts_the_key() {
        let c = ConnectionConfig::parse(EMU).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("SAS_KEY_VALUE"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn errors_name_the_field() {
        let err = |s: &str| ConnectionConfig::parse(s).unwrap_err().to_string();
        assert!(err("SharedAccessKeyName=a;SharedAccessKey=b").contains("`Endpoint`"));
        assert!(err("Endpoint=sb://h;SharedAccessKey=b").contains("`SharedAccessKeyName`"));
        assert!(err("Endpoint=sb://h;SharedAccessKeyName=a").contains("`SharedAccessKey`"));
        assert!(
            err("Endpoint=http://h;SharedAccessKeyName=a;SharedAccessKey=b").contains("`Endpoint`")
        );
        assert!(
            err("Endpoint=sb://h:99999;SharedAccessKeyName=a;SharedAccessKey=b")
                .contains("bad port")
        );
        let e = err("Endpoint=sb://h;SharedAccessKeyName=a;SharedAccessKey=SECRET;UseDevelopmentEmulator=maybe");
        assert!(
            e.contains("`UseDevelopmentEmulator`") && !e.contains("SECRET"),
            "{e}"
        );
        assert!(err("garbage").contains("Name=Value"));
    }
}
