//! `$cbs` node: claims-based-security put-token, with optional verification
//! of SharedAccessSignature tokens against the configured key.

use base64::Engine;
use fe2o3_amqp_types::{messaging::Body, primitives::Value};
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use sha2::Sha256;

use crate::{
    auth::Authorizations,
    hub::Broker,
    log::AmqpMessage,
    management::{app_property, response},
};

/// Address of the CBS node.
pub use crate::address::CBS_ADDRESS;

/// Why a token was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a `SharedAccessSignature ...` token or a field is missing.
    Malformed(&'static str),
    /// `se` is in the past.
    Expired,
    /// The signature does not match the key.
    BadSignature,
}

fn sign(key: &str, string_to_sign: &str) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key size");
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Verifies `SharedAccessSignature sr=..&sig=..&se=..&skn=..` against `key`:
/// `sig` must be base64(HMAC-SHA256(key, urlencoded(sr) + "\n" + se)).
pub fn verify_sas_token(token: &str, key: &str, now_secs: i64) -> Result<i64, TokenError> {
    let fields = token
        .trim()
        .strip_prefix("SharedAccessSignature ")
        .ok_or(TokenError::Malformed("not a SharedAccessSignature token"))?;
    let (mut sr, mut sig, mut se) = (None, None, None);
    for pair in fields.split('&') {
        match pair.split_once('=') {
            Some(("sr", v)) => sr = Some(v),
            Some(("sig", v)) => sig = Some(v),
            Some(("se", v)) => se = Some(v),
            _ => {}
        }
    }
    let sr = sr.ok_or(TokenError::Malformed("missing sr"))?;
    let sig = sig.ok_or(TokenError::Malformed("missing sig"))?;
    let se = se.ok_or(TokenError::Malformed("missing se"))?;
    let expiry: i64 = se
        .parse()
        .map_err(|_| TokenError::Malformed("se is not a number"))?;
    if expiry < now_secs {
        return Err(TokenError::Expired);
    }
    let sig = percent_decode_str(sig)
        .decode_utf8_lossy()
        .replace(' ', "+");
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig.as_bytes())
        .map_err(|_| TokenError::Malformed("sig is not base64"))?;
    // Clients differ in how they encode `sr`; accept the token's own encoding
    // as well as a canonical re-encoding of the decoded resource.
    let decoded = percent_decode_str(sr).decode_utf8_lossy();
    let canonical = utf8_percent_encode(&decoded, NON_ALPHANUMERIC).to_string();
    let candidates = [sr.to_string(), canonical.clone(), canonical.to_lowercase()];
    if candidates
        .iter()
        .any(|c| sign(key, &format!("{c}\n{se}")) == sig)
    {
        Ok(expiry)
    } else {
        Err(TokenError::BadSignature)
    }
}

/// The decoded `sr` of a token (its audience).
fn token_resource(token: &str) -> String {
    token
        .split(['&', ' '])
        .find_map(|p| p.strip_prefix("sr="))
        .map(|sr| percent_decode_str(sr).decode_utf8_lossy().into_owned())
        .unwrap_or_default()
}

/// Answers one `$cbs` request (status 202 on success).
pub fn handle_request(
    broker: &Broker,
    auth: &Authorizations,
    request: &AmqpMessage,
) -> AmqpMessage {
    if app_property(request, "operation") != Some("put-token") {
        return response(request, 400, "unsupported operation", Value::Null);
    }
    let Some(key) = broker.sas_key.as_deref() else {
        return response(request, 202, "Accepted", Value::Null);
    };
    let token = match &request.body {
        Body::Value(v) => match &v.0 {
            Value::String(s) => Some(s.clone()),
            Value::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        },
        Body::Data(d) => d
            .first()
            .map(|d| String::from_utf8_lossy(&d.0).into_owned()),
        _ => None,
    };
    let Some(token) = token else {
        return response(request, 400, "missing token", Value::Null);
    };
    match verify_sas_token(&token, key, chrono::Utc::now().timestamp()) {
        Ok(expiry) => {
            let audience = app_property(request, "name")
                .map(str::to_string)
                .unwrap_or_else(|| token_resource(&token));
            auth.grant(&audience, expiry);
            response(request, 202, "Accepted", Value::Null)
        }
        Err(e) => response(request, 401, &format!("unauthorized: {e:?}"), Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(key: &str, sr: &str, se: i64) -> String {
        let encoded = utf8_percent_encode(sr, NON_ALPHANUMERIC).to_string();
        let sig = base64::engine::general_purpose::STANDARD
            .encode(sign(key, &format!("{encoded}\n{se}")));
        let sig = utf8_percent_encode(&sig, NON_ALPHANUMERIC);
        format!(
            "SharedAccessSignature sr={encoded}&sig={sig}&se={se}&skn=RootManageSharedAccessKey"
        )
    }

    #[test]
    fn verifies_sas_tokens() {
        let t = token("secret", "sb://localhost/weather", 2_000);
        assert_eq!(verify_sas_token(&t, "secret", 1_000), Ok(2_000));
        assert_eq!(
            verify_sas_token(&t, "other", 1_000),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify_sas_token(&t, "secret", 3_000),
            Err(TokenError::Expired)
        );
        assert!(matches!(
            verify_sas_token("Bearer x", "secret", 0),
            Err(TokenError::Malformed(_))
        ));
    }
}
