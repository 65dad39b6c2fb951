//! Session decisions: what the auth service said about one session cookie (allow with identity
//! headers, or deny), how it is stored in Redis, and how an auth response is interpreted.

use serde::Serialize;

/// A cached auth decision for one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the session may pass.
    #[serde(rename = "a")]
    pub allow: bool,
    /// Identity headers to add upstream (allow only).
    #[serde(rename = "h", default)]
    pub headers: Vec<(String, String)>,
    /// When the auth service decided, in milliseconds since the Unix epoch.
    #[serde(rename = "t")]
    pub decided_at_ms: u64,
    /// How long the decision is used without asking again, in milliseconds.
    #[serde(rename = "f")]
    pub fresh_ms: u64,
}

fn header_pair(pair: &serde_json::Value) -> Option<(String, String)> {
    match pair.as_array()?.as_slice() {
        [name, value] => Some((name.as_str()?.to_string(), value.as_str()?.to_string())),
        _ => None,
    }
}

/// What one auth-service answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// 2xx: allowed, with these identity headers.
    Allow(Vec<(String, String)>),
    /// 401 or 403: denied.
    Deny,
    /// Anything else (5xx, 3xx, other 4xx): the service could not decide.
    Unusable,
}

impl Decision {
    /// Encodes the decision for Redis.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a stored decision; anything malformed is `None` (treated as a miss). Read from
    /// a JSON value rather than through a derived `Deserialize`, which would compile a second
    /// JSON deserializer into the module for four fields.
    pub fn decode(bytes: &[u8]) -> Option<Decision> {
        let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let headers = match doc.get("h") {
            None => Vec::new(),
            Some(list) => list.as_array()?.iter().map(header_pair).collect::<Option<Vec<_>>>()?,
        };
        Some(Decision {
            allow: doc.get("a")?.as_bool()?,
            headers,
            decided_at_ms: doc.get("t")?.as_u64()?,
            fresh_ms: doc.get("f")?.as_u64()?,
        })
    }

    /// Whether it is still fresh at `now_ms`.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.decided_at_ms) < self.fresh_ms
    }

    /// Whether it may be used while the auth service is down, given the stale window.
    pub fn is_within_stale_window(&self, now_ms: u64, stale_ms: u64) -> bool {
        now_ms.saturating_sub(self.decided_at_ms) < self.fresh_ms.saturating_add(stale_ms)
    }
}

/// Interprets an auth-service response: 2xx allows and its `identity` headers (those present)
/// are passed upstream; 401/403 deny; everything else is unusable.
pub fn interpret(status: u16, headers: &[(String, String)], identity: &[String]) -> AuthAnswer {
    match status {
        200..=299 => AuthAnswer::Allow(
            identity
                .iter()
                .filter_map(|name| {
                    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| (name.clone(), v.clone()))
                })
                .collect(),
        ),
        401 | 403 => AuthAnswer::Deny,
        _ => AuthAnswer::Unusable,
    }
}

/// Whether a backend may read header `name` as `identity`: CGI, PHP, Rack and WSGI ignore case
/// and turn `-` into `_`, so `X-User-Id`, `x_user_id` and `X_USER_ID` are one header to them.
pub fn folds_to(name: &str, identity: &str) -> bool {
    let fold = |b: u8| if b == b'_' { b'-' } else { b.to_ascii_lowercase() };
    name.len() == identity.len() && name.bytes().zip(identity.bytes()).all(|(a, b)| fold(a) == fold(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn decisions_round_trip_and_garbage_is_a_miss() {
        let d = Decision { allow: true, headers: h(&[("x-user", "alice")]), decided_at_ms: 5, fresh_ms: 10 };
        assert_eq!(Decision::decode(&d.encode()), Some(d));
        assert_eq!(Decision::decode(b"cc1 garbage"), None);
        assert_eq!(Decision::decode(b"{\"a\":1}"), None);
        assert_eq!(
            Decision::decode(b"{\"a\":true,\"t\":5,\"f\":6}"),
            Some(Decision { allow: true, headers: Vec::new(), decided_at_ms: 5, fresh_ms: 6 })
        );
        assert_eq!(Decision::decode(b"{\"a\":true,\"h\":[[\"x\"]],\"t\":5,\"f\":6}"), None);
        assert_eq!(Decision::decode(b"{\"a\":true,\"h\":null,\"t\":5,\"f\":6}"), None);
    }

    #[test]
    fn freshness_and_the_stale_window() {
        let d = Decision { allow: false, headers: vec![], decided_at_ms: 1_000, fresh_ms: 1_000 };
        assert!(d.is_fresh(1_999));
        assert!(!d.is_fresh(2_000));
        assert!(d.is_within_stale_window(2_500, 1_000));
        assert!(!d.is_within_stale_window(3_000, 1_000));
    }

    #[test]
    fn auth_answers_are_interpreted() {
        let identity = vec!["x-user".to_string(), "x-roles".to_string()];
        let allow = interpret(200, &h(&[("X-User", "alice"), ("x-other", "1")]), &identity);
        assert_eq!(allow, AuthAnswer::Allow(h(&[("x-user", "alice")])));
        assert_eq!(interpret(204, &[], &identity), AuthAnswer::Allow(vec![]));
        assert_eq!(interpret(401, &[], &identity), AuthAnswer::Deny);
        assert_eq!(interpret(403, &[], &identity), AuthAnswer::Deny);
        assert_eq!(interpret(500, &[], &identity), AuthAnswer::Unusable);
        assert_eq!(interpret(302, &[], &identity), AuthAnswer::Unusable);
        assert_eq!(interpret(404, &[], &identity), AuthAnswer::Unusable);
    }

    #[test]
    fn header_spellings_a_backend_folds_together_are_one_identity_header() {
        for name in ["x-user-id", "X-User-Id", "x_user_id", "X_USER_ID", "x-User_Id"] {
            assert!(folds_to(name, "x-user-id"), "{name}");
            assert!(folds_to(name, "x_user_id"), "{name}");
        }
        for name in ["x-user-idx", "x-userid", "x.user.id", "x-user-i"] {
            assert!(!folds_to(name, "x-user-id"), "{name}");
        }
    }
}
