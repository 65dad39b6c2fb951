//! Session decisions: what the auth service said about one session cookie (allow with identity
//! headers, or deny), how it is stored in Redis, and how an auth response is interpreted.
//!
//! A decision is stored as `{"a":true,"h":[["x-user","alice"]],"t":5,"f":10}`, byte for byte what
//! serde_json wrote for it when the plugin used serde, so decisions stored by either version read
//! the same in both. It is written and read here by hand (the reading over gateway-json), so no
//! serializer is compiled into the module for four fields.

use gateway_json::{JsonView, Kind, Leniency, push_json_string};

/// A cached auth decision for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the session may pass (stored as `a`).
    pub allow: bool,
    /// Identity headers to add upstream (allow only), stored as `h`: `[name, value]` pairs,
    /// absent read as none.
    pub headers: Vec<(String, String)>,
    /// When the auth service decided, in milliseconds since the Unix epoch (stored as `t`).
    pub decided_at_ms: u64,
    /// How long the decision is used without asking again, in milliseconds (stored as `f`).
    pub fresh_ms: u64,
}

/// A stored `[name, value]` pair: an array of exactly two strings.
fn header_pair(pair: JsonView<'_>) -> Option<(String, String)> {
    if pair.kind() != Kind::Array {
        return None;
    }
    let mut items = pair.items();
    let (name, value) = (items.next()?, items.next()?);
    if items.next().is_some() {
        return None;
    }
    Some((name.as_str()?.into_owned(), value.as_str()?.into_owned()))
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
    /// Encodes the decision for Redis (see the module documentation for the form).
    pub fn encode(&self) -> Vec<u8> {
        let strings: usize = self.headers.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
        let mut out = String::with_capacity(64 + strings);
        out.push_str(if self.allow { "{\"a\":true,\"h\":[" } else { "{\"a\":false,\"h\":[" });
        for (i, (name, value)) in self.headers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            push_json_string(&mut out, name);
            out.push(',');
            push_json_string(&mut out, value);
            out.push(']');
        }
        out.push_str("],\"t\":");
        out.push_str(&self.decided_at_ms.to_string());
        out.push_str(",\"f\":");
        out.push_str(&self.fresh_ms.to_string());
        out.push('}');
        out.into_bytes()
    }

    /// Decodes a stored decision; anything malformed is `None` (treated as a miss). Any JSON
    /// object is read (members in any order, whitespace, escapes; a repeated key's last value
    /// counts), as serde_json read it: `a` a boolean, `t` and `f` integers that fit a `u64`,
    /// `h` absent or a list of pairs.
    pub fn decode(bytes: &[u8]) -> Option<Decision> {
        let doc = JsonView::parse(bytes, Leniency::Strict)?;
        let headers = match doc.get("h") {
            None => Vec::new(),
            Some(list) if list.kind() == Kind::Array => list.items().map(header_pair).collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
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

    /// The decision as serde derived it before the encoder was written by hand.
    #[derive(serde::Serialize)]
    struct SerdeDecision<'a> {
        #[serde(rename = "a")]
        allow: bool,
        #[serde(rename = "h")]
        headers: &'a [(String, String)],
        #[serde(rename = "t")]
        decided_at_ms: u64,
        #[serde(rename = "f")]
        fresh_ms: u64,
    }

    /// The decoder as it was written over serde_json.
    fn serde_decode(bytes: &[u8]) -> Option<Decision> {
        let pair = |pair: &serde_json::Value| match pair.as_array()?.as_slice() {
            [name, value] => Some((name.as_str()?.to_string(), value.as_str()?.to_string())),
            _ => None,
        };
        let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let headers = match doc.get("h") {
            None => Vec::new(),
            Some(list) => list.as_array()?.iter().map(pair).collect::<Option<Vec<_>>>()?,
        };
        Some(Decision {
            allow: doc.get("a")?.as_bool()?,
            headers,
            decided_at_ms: doc.get("t")?.as_u64()?,
            fresh_ms: doc.get("f")?.as_u64()?,
        })
    }

    /// A small deterministic generator (xorshift64*), so a failure replays.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }
    }

    /// Characters serde_json escapes, and some it does not.
    fn any_char(rng: &mut Rng) -> char {
        match rng.below(4) {
            0 => char::from(rng.pick(&[b'"', b'\\', b'/', 0x7f, b'\'', b'u', b'%', b' '])),
            1 => char::from(rng.below(0x20) as u8),
            2 => rng.pick(&['\u{e9}', '\u{20ac}', '\u{1f600}', '\u{2028}', '\u{feff}', '\u{ffff}', '\u{10ffff}']),
            _ => char::from(b'a' + rng.below(26) as u8),
        }
    }

    fn any_string(rng: &mut Rng) -> String {
        (0..rng.below(12)).map(|_| any_char(rng)).collect()
    }

    fn any_u64(rng: &mut Rng) -> u64 {
        match rng.below(4) {
            0 => rng.pick(&[0, 1, 9, 10, 99, 1000, u64::from(u32::MAX), u64::MAX - 1, u64::MAX]),
            1 => rng.next() >> rng.below(64),
            _ => rng.next() % 10_000_000_000_000,
        }
    }

    fn any_decision(rng: &mut Rng) -> Decision {
        let headers = (0..rng.pick(&[0, 0, 1, 2, 5])).map(|_| (any_string(rng), any_string(rng))).collect();
        Decision { allow: rng.below(2) == 0, headers, decided_at_ms: any_u64(rng), fresh_ms: any_u64(rng) }
    }

    #[test]
    fn decisions_are_written_byte_for_byte_as_serde_json_wrote_them() {
        let mut rng = Rng(0x5eed_cafe);
        let mut fixed = vec![
            Decision { allow: false, headers: vec![], decided_at_ms: 0, fresh_ms: 0 },
            Decision { allow: true, headers: h(&[("x-user", "alice")]), decided_at_ms: 5, fresh_ms: 10 },
            Decision { allow: true, headers: h(&[("", ""), ("a", "")]), decided_at_ms: u64::MAX, fresh_ms: 1 },
        ];
        let every_byte: String = (0u8..0x80).map(char::from).collect();
        fixed.push(Decision {
            allow: true,
            headers: vec![(every_byte.clone(), every_byte)],
            decided_at_ms: 1,
            fresh_ms: 2,
        });
        let generated = (0..5_000).map(|_| any_decision(&mut rng));
        for d in fixed.into_iter().chain(generated) {
            let serde = SerdeDecision {
                allow: d.allow,
                headers: &d.headers,
                decided_at_ms: d.decided_at_ms,
                fresh_ms: d.fresh_ms,
            };
            let theirs = serde_json::to_vec(&serde).unwrap();
            let ours = d.encode();
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{d:?}");
            assert_eq!(ours, theirs, "{d:?}");
            assert_eq!(Decision::decode(&ours), Some(d));
        }
    }

    /// A document like a stored decision: mostly the four members with values of the right kind
    /// (keys escaped at times), sometimes a wrong value, a missing member or extra ones (another
    /// key, a repeated one), in any order, with whitespace anywhere JSON allows it and elsewhere.
    fn any_document(rng: &mut Rng) -> String {
        const MEMBERS: &[(&[&str], &[&str])] = &[
            (&["a", "\\u0061"], &["true", "false"]),
            (
                &["h", "\\u0068"],
                &[
                    "[]",
                    "[[\"x\",\"y\"]]",
                    "[ [ \"a\" , \"\" ] ]",
                    "[[\"x\",\"y\"],[\"\\u00e9\\n\",\"\\ud83d\\ude00\"]]",
                ],
            ),
            (&["t", "\\u0074"], &["0", "5", "1234567890123", "18446744073709551615"]),
            (&["f", "\\u0066"], &["0", "7", "300000", "18446744073709551615"]),
        ];
        const KEYS: &[&str] = &["a", "h", "t", "f", "x", "A", ""];
        const VALUES: &[&str] = &[
            "true",
            "false",
            "null",
            "0",
            "5",
            "-0",
            "-5",
            "5.0",
            "1e2",
            "0.5",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
            "\"5\"",
            "\"true\"",
            "[]",
            "{}",
            "[[]]",
            "[[\"x\",\"y\"]]",
            "[[\"x\"]]",
            "[[\"x\",\"y\",\"z\"]]",
            "[[1,\"y\"]]",
            "[[\"x\",null]]",
            "[[\"x\",\"\\ud800\"]]",
            "[[\"x\",\"y\"],{}]",
            "{\"0\":[\"x\",\"y\"]}",
            "[[\"x\",\"y\"]",
            "tru",
            "\"\\x\"",
        ];
        // JSON's whitespace, and rarely a space it does not allow.
        let space =
            |rng: &mut Rng| if rng.below(100) == 0 { "\u{a0}" } else { rng.pick(&["", "", "", " ", "\n", "\t\r "]) };
        let mut members: Vec<(&str, &str)> = Vec::new();
        for (keys, good) in MEMBERS {
            if rng.below(12) != 0 {
                let value = if rng.below(6) == 0 { rng.pick(VALUES) } else { rng.pick(good) };
                members.push((rng.pick(keys), value));
            }
        }
        for _ in 0..rng.pick(&[0, 0, 0, 1, 2]) {
            members.push((rng.pick(KEYS), rng.pick(VALUES)));
        }
        for i in (1..members.len()).rev() {
            members.swap(i, rng.below(i + 1));
        }
        let mut doc = String::from(space(rng));
        doc.push('{');
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                doc.push(',');
            }
            for part in [space(rng), "\"", key, "\"", space(rng), ":", space(rng), value] {
                doc.push_str(part);
            }
        }
        doc.push_str(space(rng));
        doc.push('}');
        doc.push_str(space(rng));
        doc
    }

    #[test]
    fn stored_decisions_read_as_serde_json_read_them() {
        let mut rng = Rng(0x00de_c0de);
        let mut docs: Vec<Vec<u8>> =
            ["", "null", "1", "\"x\"", "[]", "[true,[],5,6]", "{}", "{\"a\":true,\"t\":5,\"f\":6}x"]
                .iter()
                .map(|d| d.as_bytes().to_vec())
                .collect();
        let generated = (0..5_000).map(|_| any_document(&mut rng).into_bytes());
        docs.extend(generated);
        for _ in 0..300 {
            // Every prefix of a stored decision, and stored decisions with one byte changed.
            let stored = any_decision(&mut rng).encode();
            docs.extend((0..stored.len()).map(|n| stored[..n].to_vec()));
            for _ in 0..5 {
                let mut changed = stored.clone();
                let at = rng.below(changed.len());
                changed[at] = rng.pick(&[b'"', b'\\', b',', b'[', b']', b'{', b'}', b' ', b'0', b'-', 0xff, 0x01]);
                docs.push(changed);
            }
        }
        let (mut read, mut refused) = (0, 0);
        for doc in &docs {
            let ours = Decision::decode(doc);
            assert_eq!(ours, serde_decode(doc), "{}", String::from_utf8_lossy(doc));
            if ours.is_some() { read += 1 } else { refused += 1 }
        }
        assert!(read > 1_000 && refused > 1_000, "{read} documents read, {refused} refused");
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
