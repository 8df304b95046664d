//! What a connection is authorised for: the SAS tokens put on its `$cbs` node.
//!
//! With a SAS key configured, the emulator behaves like Event Hubs: a link to a hub needs a
//! valid token for that hub (or the namespace) on the same connection, and a consumer link
//! whose token expires without a fresh `put-token` is closed with `amqp:unauthorized-access`.
//! Without a key nothing is checked.

use std::sync::{Arc, Mutex};

/// The tokens accepted on one connection: (entity path of the audience, expiry in Unix s).
#[derive(Debug, Default, Clone)]
pub struct Authorizations {
    grants: Arc<Mutex<Vec<(String, i64)>>>,
}

impl Authorizations {
    /// Records a token accepted for `audience` (e.g. `sb://host/hub`) until `expiry` (Unix s).
    pub fn grant(&self, audience: &str, expiry: i64) {
        let path = crate::address::entity_path(audience).to_ascii_lowercase();
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        match grants.iter_mut().find(|(p, _)| *p == path) {
            Some(grant) => grant.1 = grant.1.max(expiry),
            None => grants.push((path, expiry)),
        }
    }

    /// The latest expiry (Unix s) of a token covering `hub` that is still valid at `now`.
    pub fn expiry_for(&self, hub: &str, now: i64) -> Option<i64> {
        let hub = hub.to_ascii_lowercase();
        let grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        grants
            .iter()
            .filter(|(path, expiry)| {
                *expiry >= now
                    && (path.is_empty()
                        || *path == hub
                        || path
                            .strip_prefix(hub.as_str())
                            .is_some_and(|r| r.starts_with('/')))
            })
            .map(|(_, expiry)| *expiry)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cover_their_hub_or_the_namespace_until_they_expire() {
        let auth = Authorizations::default();
        assert_eq!(auth.expiry_for("weather", 0), None);
        auth.grant("sb://localhost/weather", 100);
        assert_eq!(auth.expiry_for("Weather", 50), Some(100));
        assert_eq!(auth.expiry_for("weather", 101), None);
        assert_eq!(auth.expiry_for("other", 50), None);
        auth.grant("sb://localhost/weather", 200);
        assert_eq!(auth.expiry_for("weather", 150), Some(200));
        auth.grant("sb://localhost/", 300);
        assert_eq!(auth.expiry_for("other", 250), Some(300));
    }
}
