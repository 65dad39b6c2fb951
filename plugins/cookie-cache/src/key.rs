//! Cache keys: the request's method, host, path, query (whole by default, see [`crate::query`]),
//! selected headers and cookies reduced to one SHA-256 digest. Cookie values are hashed on their
//! own before they enter the key material, so a raw cookie value never becomes (or appears in) a
//! Redis key.

use sha2::{Digest, Sha256};

use crate::query::{QueryKey, Selected};

/// What the key is built from, as configured (`cache.key`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySpec {
    /// Cookie names whose (hashed) values partition the cache, e.g. the session cookie.
    pub cookies: Vec<String>,
    /// Which query parameters are included in the key (the whole query by default).
    pub query: QueryKey,
    /// Request header names (lower-case) included in the key.
    pub headers: Vec<String>,
}

/// The parts of a request the key is computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInput<'a> {
    /// `:method`.
    pub method: &'a str,
    /// Host without port, lower-case.
    pub host: &'a str,
    /// `:path` including the query string.
    pub path: &'a str,
    /// Request headers as received (after the session step).
    pub headers: &'a [(String, String)],
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut out = Vec::with_capacity(64);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
    // Only hex digits were written.
    String::from_utf8(out).unwrap_or_default()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl KeySpec {
    /// The key material for `input`: one line per component, cookie values already hashed.
    /// Exposed for tests and debugging; [`KeySpec::digest`] is what names Redis keys.
    pub fn material(&self, input: &KeyInput<'_>) -> String {
        let (path, query) = match input.path.split_once('?') {
            Some((p, q)) => (p, Some(q.split('#').next().unwrap_or(q))),
            None => (input.path.split('#').next().unwrap_or(input.path), None),
        };
        let mut m = String::with_capacity(128);
        push_line(&mut m, "v2", "");
        push_line(&mut m, "m", &input.method.to_ascii_uppercase());
        push_line(&mut m, "h", &input.host.to_ascii_lowercase());
        push_line(&mut m, "p", path);
        match self.query.select(query) {
            Selected::All(params) => {
                for p in params {
                    push_line(&mut m, "q", &escape(&p.as_sent()));
                }
            }
            Selected::Only(listed) => {
                for (name, params) in listed {
                    let values: Vec<String> = params.iter().map(|p| p.as_sent()).collect();
                    let values: Vec<&str> = values.iter().map(String::as_str).collect();
                    push_present(&mut m, "q", &name, &values);
                }
            }
            Selected::Nothing => {}
        }
        for name in &self.headers {
            let values: Vec<&str> =
                input.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).collect();
            push_present(&mut m, "hd", name, &values);
        }
        for name in &self.cookies {
            let value = cookie(input.headers, name);
            let line = match value {
                Some(v) => format!("{}=sha256:{}", escape(name), sha256_hex(v.as_bytes())),
                None => format!("{}!absent", escape(name)),
            };
            push_line(&mut m, "c", &line);
        }
        m
    }

    /// Whether the request carries every configured cookie (non-empty): only then is its key its
    /// own and not shared with everyone lacking one of them. True when no cookie is configured.
    pub fn identifies(&self, headers: &[(String, String)]) -> bool {
        self.cookies.iter().all(|name| cookie(headers, name).is_some_and(|v| !v.is_empty()))
    }

    /// The SHA-256 (hex) of the key material: the part of every Redis key for this request.
    pub fn digest(&self, input: &KeyInput<'_>) -> String {
        sha256_hex(self.material(input).as_bytes())
    }
}

fn push_line(m: &mut String, tag: &str, value: &str) {
    m.push_str(tag);
    m.push(' ');
    m.push_str(&escape(value));
    m.push('\n');
}

/// Absent and present-but-empty are different keys; several values keep their order.
fn push_present(m: &mut String, tag: &str, name: &str, values: &[&str]) {
    if values.is_empty() {
        push_line(m, tag, &format!("{}!absent", escape(name)));
    } else {
        let joined: Vec<String> = values.iter().map(|v| escape(v)).collect();
        push_line(m, tag, &format!("{}={}", escape(name), joined.join(",")));
    }
}

/// Escapes the characters the material uses as separators, so components cannot collide.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut rest = s;
    // The escaped characters are ASCII, so every position found is a character boundary.
    while let Some(i) = rest.bytes().position(|b| matches!(b, b'\\' | b'\n' | b',' | b'=' | b'!')) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b',' => "\\,",
            b'=' => "\\=",
            _ => "\\!",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out
}

/// The first value of cookie `name` in the request's `cookie` headers.
pub fn cookie(headers: &[(String, String)], name: &str) -> Option<String> {
    headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("cookie")).find_map(|(_, v)| {
        v.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn spec() -> KeySpec {
        KeySpec {
            cookies: vec!["sid".into()],
            query: QueryKey::Only(vec!["page".into()]),
            headers: vec!["accept-language".into()],
        }
    }

    fn digest(spec: &KeySpec, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
        let headers = h(headers);
        spec.digest(&KeyInput { method, host: "example.com", path, headers: &headers })
    }

    #[test]
    fn separators_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("a\\b\nc,d=e!fé"), "a\\\\b\\nc\\,d\\=e\\!fé");
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape(""), "");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn cookie_values_are_hashed_never_raw() {
        let headers = h(&[("cookie", "a=1; sid=secret-session-value")]);
        let input = KeyInput { method: "GET", host: "example.com", path: "/", headers: &headers };
        let m = spec().material(&input);
        assert!(!m.contains("secret-session-value"), "{m}");
        assert!(m.contains(&sha256_hex(b"secret-session-value")), "{m}");
        let d = spec().digest(&input);
        assert_eq!(d.len(), 64);
        assert!(d.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn different_users_get_different_keys() {
        let s = spec();
        let a = digest(&s, "GET", "/", &[("cookie", "sid=alice")]);
        let b = digest(&s, "GET", "/", &[("cookie", "sid=bob")]);
        let none = digest(&s, "GET", "/", &[]);
        let empty = digest(&s, "GET", "/", &[("cookie", "sid=")]);
        assert_ne!(a, b);
        assert_ne!(none, empty, "no cookie and an empty cookie are different users");
        assert_eq!(a, digest(&s, "GET", "/", &[("cookie", "x=1; sid=alice")]), "other cookies do not matter");
    }

    #[test]
    fn method_path_selected_query_and_headers_are_part_of_the_key() {
        let s = spec();
        let base = digest(&s, "GET", "/a?page=1&utm=x", &[]);
        assert_eq!(base, digest(&s, "GET", "/a?utm=y&page=1", &[]), "unselected parameters are ignored");
        assert_ne!(base, digest(&s, "GET", "/a?page=2", &[]));
        assert_ne!(base, digest(&s, "HEAD", "/a?page=1", &[]));
        assert_ne!(base, digest(&s, "GET", "/b?page=1", &[]));
        assert_ne!(base, digest(&s, "GET", "/a?page=1", &[("accept-language", "de")]));
        assert_ne!(digest(&s, "GET", "/a?page=", &[]), digest(&s, "GET", "/a", &[]));
    }

    #[test]
    fn by_default_the_whole_query_is_in_the_key_in_a_stable_order() {
        let s = KeySpec::default();
        assert_eq!(s.query, QueryKey::All);
        assert_ne!(digest(&s, "GET", "/page?x=1", &[]), digest(&s, "GET", "/page?x=2", &[]));
        assert_ne!(digest(&s, "GET", "/page?x=1", &[]), digest(&s, "GET", "/page", &[]));
        assert_ne!(digest(&s, "GET", "/page?x=1", &[]), digest(&s, "GET", "/page?x=1&utm=a", &[]));
        assert_eq!(digest(&s, "GET", "/?b=2&a=1", &[]), digest(&s, "GET", "/?a=1&b=2", &[]));
        assert_eq!(digest(&s, "GET", "/?a=%7e", &[]), digest(&s, "GET", "/?a=~", &[]), "equivalent escapes");
        assert_ne!(digest(&s, "GET", "/?a=%3C", &[]), digest(&s, "GET", "/?a=<", &[]));
        assert_eq!(digest(&s, "GET", "/page?", &[]), digest(&s, "GET", "/page", &[]));
    }

    #[test]
    fn ignore_leaves_the_query_out_of_the_key() {
        let s = KeySpec { query: QueryKey::Ignore, ..KeySpec::default() };
        assert_eq!(digest(&s, "GET", "/page?x=1", &[]), digest(&s, "GET", "/page?x=2", &[]));
        assert_ne!(digest(&s, "GET", "/page?x=1", &[]), digest(&s, "GET", "/other?x=1", &[]));
    }

    #[test]
    fn a_listed_parameter_cannot_hide_from_the_key_under_another_spelling() {
        let s = spec();
        let plain = digest(&s, "GET", "/list", &[]);
        for cloaked in ["/list?p%61ge=9", "/list?PAGE=9", "/list?utm=1;page=9", "/list?page"] {
            assert_ne!(digest(&s, "GET", cloaked, &[]), plain, "{cloaked}");
        }
    }

    #[test]
    fn a_request_is_identified_only_with_every_configured_cookie() {
        let s = KeySpec { cookies: vec!["sid".into(), "tenant".into()], ..KeySpec::default() };
        assert!(s.identifies(&h(&[("cookie", "sid=a; tenant=b")])));
        assert!(!s.identifies(&h(&[("cookie", "sid=a")])));
        assert!(!s.identifies(&h(&[("cookie", "sid=; tenant=b")])));
        assert!(KeySpec::default().identifies(&[]), "nothing to identify by");
    }

    #[test]
    fn separators_inside_values_cannot_forge_another_key() {
        let s = KeySpec { headers: vec!["x-a".into(), "x-b".into()], ..KeySpec::default() };
        let one = digest(&s, "GET", "/", &[("x-a", "1\nhd x-b=2")]);
        let two = digest(&s, "GET", "/", &[("x-a", "1"), ("x-b", "2")]);
        assert_ne!(one, two);
    }

    #[test]
    fn matches_the_known_sha256_of_abc() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
