//! Cache keys: the request's method, host, path, selected query parameters, headers and cookies
//! reduced to one SHA-256 digest. Cookie values are hashed on their own before they enter the key
//! material, so a raw cookie value never becomes (or appears in) a Redis key.

use sha2::{Digest, Sha256};

/// What the key is built from, as configured (`cache.key`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySpec {
    /// Cookie names whose (hashed) values partition the cache, e.g. the session cookie.
    pub cookies: Vec<String>,
    /// Query parameter names included in the key; `*` includes the whole query, sorted.
    pub query_params: Vec<String>,
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
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
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
        push_line(&mut m, "v1", "");
        push_line(&mut m, "m", &input.method.to_ascii_uppercase());
        push_line(&mut m, "h", &input.host.to_ascii_lowercase());
        push_line(&mut m, "p", path);
        let pairs = query.map(parse_query).unwrap_or_default();
        for name in &self.query_params {
            if name == "*" {
                let mut all = pairs.clone();
                all.sort();
                for (k, v) in all {
                    push_line(&mut m, "q", &format!("{}={}", escape(&k), escape(&v)));
                }
            } else {
                let values: Vec<&str> = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
                push_present(&mut m, "q", name, &values);
            }
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
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            ',' => out.push_str("\\,"),
            '=' => out.push_str("\\="),
            '!' => out.push_str("\\!"),
            c => out.push(c),
        }
    }
    out
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
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
            query_params: vec!["page".into()],
            headers: vec!["accept-language".into()],
        }
    }

    fn digest(spec: &KeySpec, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
        let headers = h(headers);
        spec.digest(&KeyInput { method, host: "example.com", path, headers: &headers })
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
    fn a_wildcard_includes_the_whole_query_in_a_stable_order() {
        let s = KeySpec { query_params: vec!["*".into()], ..KeySpec::default() };
        assert_eq!(digest(&s, "GET", "/?b=2&a=1", &[]), digest(&s, "GET", "/?a=1&b=2", &[]));
        assert_ne!(digest(&s, "GET", "/?a=1", &[]), digest(&s, "GET", "/?a=1&b=2", &[]));
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
