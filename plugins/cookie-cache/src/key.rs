//! Cache keys: the request's method, host, path, query (whole by default, see [`crate::query`]),
//! selected headers and cookies reduced to one SHA-256 digest. Cookie values are hashed on their
//! own before they enter the key material, so a raw cookie value never becomes (or appears in) a
//! Redis key.

use crate::sha256::push_sha256_hex;
pub use crate::sha256::sha256_hex;

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

impl KeySpec {
    /// The key material for `input`: one line per component, cookie values already hashed.
    /// Exposed for tests and debugging; [`KeySpec::digest`] is what names Redis keys.
    ///
    /// A line is `tag value`, the value escaped ([`push_escaped`]); a named component's value
    /// is `name=v1,v2` or `name!absent` with the name and each value escaped first, so they
    /// are escaped twice in the line, as the format has always been (it names stored keys).
    pub fn material(&self, input: &KeyInput<'_>) -> String {
        self.material_identifying(input).0
    }

    /// [`KeySpec::material`], and whether the request carries every configured cookie
    /// ([`KeySpec::identifies`]), from one reading of its cookies.
    fn material_identifying(&self, input: &KeyInput<'_>) -> (String, bool) {
        let (path, query) = match input.path.split_once('?') {
            Some((p, q)) => (p, Some(q.split('#').next().unwrap_or(q))),
            None => (input.path.split('#').next().unwrap_or(input.path), None),
        };
        let mut m = String::with_capacity(192);
        push_line(&mut m, "v2", "");
        push_line(&mut m, "m", &with_case(input.method, u8::is_ascii_lowercase, str::to_ascii_uppercase));
        push_line(&mut m, "h", &with_case(input.host, u8::is_ascii_uppercase, str::to_ascii_lowercase));
        push_line(&mut m, "p", path);
        match self.query.select(query) {
            Selected::All(params) => {
                for p in params {
                    start_line(&mut m, "q");
                    push_escaped(&mut m, &p.as_sent(), 2);
                    m.push('\n');
                }
            }
            Selected::Only(listed) => {
                for (name, params) in listed {
                    let values: Vec<String> = params.iter().map(|p| p.as_sent()).collect();
                    push_present(&mut m, "q", &name, values.iter().map(String::as_str));
                }
            }
            Selected::Nothing => {}
        }
        for name in &self.headers {
            let values = input.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
            push_present(&mut m, "hd", name, values);
        }
        let mut identified = true;
        for name in &self.cookies {
            start_line(&mut m, "c");
            push_escaped(&mut m, name, 2);
            match cookie_value(input.headers, name) {
                Some(v) => {
                    identified &= !v.is_empty();
                    m.push_str("\\=sha256:");
                    push_sha256_hex(&mut m, v.as_bytes());
                }
                None => {
                    identified = false;
                    m.push_str("\\!absent");
                }
            }
            m.push('\n');
        }
        (m, identified)
    }

    /// Whether the request carries every configured cookie (non-empty): only then is its key its
    /// own and not shared with everyone lacking one of them. True when no cookie is configured.
    pub fn identifies(&self, headers: &[(String, String)]) -> bool {
        self.cookies.iter().all(|name| cookie_value(headers, name).is_some_and(|v| !v.is_empty()))
    }

    /// The SHA-256 (hex) of the key material: the part of every Redis key for this request.
    pub fn digest(&self, input: &KeyInput<'_>) -> String {
        self.digest_identifying(input).0
    }

    /// [`KeySpec::digest`] and [`KeySpec::identifies`] together, reading the cookies once.
    pub fn digest_identifying(&self, input: &KeyInput<'_>) -> (String, bool) {
        let (material, identified) = self.material_identifying(input);
        (sha256_hex(material.as_bytes()), identified)
    }
}

/// `s`, or `convert(s)` when it has a byte `needs` says to convert (no copy when none has).
fn with_case<'s>(s: &'s str, needs: fn(&u8) -> bool, convert: fn(&str) -> String) -> std::borrow::Cow<'s, str> {
    if s.as_bytes().iter().any(needs) { std::borrow::Cow::Owned(convert(s)) } else { std::borrow::Cow::Borrowed(s) }
}

fn start_line(m: &mut String, tag: &str) {
    m.push_str(tag);
    m.push(' ');
}

fn push_line(m: &mut String, tag: &str, value: &str) {
    start_line(m, tag);
    push_escaped(m, value, 1);
    m.push('\n');
}

/// `tag name=v1,v2` or `tag name!absent`: absent and present-but-empty are different keys;
/// several values keep their order.
fn push_present<'v>(m: &mut String, tag: &str, name: &str, values: impl Iterator<Item = &'v str>) {
    start_line(m, tag);
    push_escaped(m, name, 2);
    let mut any = false;
    for v in values {
        m.push_str(if any { "\\," } else { "\\=" });
        push_escaped(m, v, 2);
        any = true;
    }
    if !any {
        m.push_str("\\!absent");
    }
    m.push('\n');
}

/// Appends `s` with the characters the material uses as separators escaped `times` times
/// (1 or 2), so components cannot collide.
fn push_escaped(out: &mut String, s: &str, times: u8) {
    let mut rest = s;
    // The escaped characters are ASCII, so every position found is a character boundary.
    while let Some(i) = rest.bytes().position(|b| matches!(b, b'\\' | b'\n' | b',' | b'=' | b'!')) {
        out.push_str(&rest[..i]);
        let b = rest.as_bytes()[i];
        out.push_str(match (times, b) {
            (1, b'\\') => "\\\\",
            (1, b'\n') => "\\n",
            (1, b',') => "\\,",
            (1, b'=') => "\\=",
            (1, _) => "\\!",
            // Escaping `\\x` again: the backslash doubles, then `x` is escaped once.
            (_, b'\\') => "\\\\\\\\",
            (_, b'\n') => "\\\\n",
            (_, b',') => "\\\\\\,",
            (_, b'=') => "\\\\\\=",
            (_, _) => "\\\\\\!",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// The first value of cookie `name` in the request's `cookie` headers.
pub fn cookie(headers: &[(String, String)], name: &str) -> Option<String> {
    cookie_value(headers, name).map(str::to_string)
}

/// [`cookie`] without the copy.
fn cookie_value<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("cookie")).find_map(|(_, v)| {
        v.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The material as it was built before it was written in place (the format names stored
    /// keys, so it must not change).
    mod reference {
        use super::super::*;

        pub fn escape(s: &str) -> String {
            let mut out = String::with_capacity(s.len() + 4);
            let mut rest = s;
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

        fn push_line(m: &mut String, tag: &str, value: &str) {
            m.push_str(tag);
            m.push(' ');
            m.push_str(&escape(value));
            m.push('\n');
        }

        fn push_present(m: &mut String, tag: &str, name: &str, values: &[&str]) {
            if values.is_empty() {
                push_line(m, tag, &format!("{}!absent", escape(name)));
            } else {
                let joined: Vec<String> = values.iter().map(|v| escape(v)).collect();
                push_line(m, tag, &format!("{}={}", escape(name), joined.join(",")));
            }
        }

        pub fn material(spec: &KeySpec, input: &KeyInput<'_>) -> String {
            let (path, query) = match input.path.split_once('?') {
                Some((p, q)) => (p, Some(q.split('#').next().unwrap_or(q))),
                None => (input.path.split('#').next().unwrap_or(input.path), None),
            };
            let mut m = String::new();
            push_line(&mut m, "v2", "");
            push_line(&mut m, "m", &input.method.to_ascii_uppercase());
            push_line(&mut m, "h", &input.host.to_ascii_lowercase());
            push_line(&mut m, "p", path);
            match spec.query.select(query) {
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
            for name in &spec.headers {
                let values: Vec<&str> =
                    input.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).collect();
                push_present(&mut m, "hd", name, &values);
            }
            for name in &spec.cookies {
                let line = match cookie(input.headers, name) {
                    Some(v) => format!("{}=sha256:{}", escape(name), sha256_hex(v.as_bytes())),
                    None => format!("{}!absent", escape(name)),
                };
                push_line(&mut m, "c", &line);
            }
            m
        }
    }

    use reference::escape;

    #[test]
    fn the_material_is_the_one_stored_keys_were_named_by() {
        let pieces = ["a", "\\", "\n", ",", "=", "!", "é", " ", "%3D", "&", ";", "?", "#", "x=y", ""];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let text = |next: &mut dyn FnMut(usize) -> usize| -> String {
            (0..next(5)).map(|_| pieces[next(pieces.len())]).collect()
        };
        for _ in 0..3_000 {
            let spec = KeySpec {
                cookies: (0..next(3)).map(|_| text(&mut next)).collect(),
                query: match next(3) {
                    0 => QueryKey::All,
                    1 => QueryKey::Ignore,
                    _ => QueryKey::Only((0..next(3)).map(|_| text(&mut next)).collect()),
                },
                headers: (0..next(3)).map(|_| format!("x-{}", text(&mut next))).collect(),
            };
            let mut headers = Vec::new();
            for _ in 0..next(4) {
                let name = match next(3) {
                    0 => "cookie".to_string(),
                    1 => spec.headers.first().cloned().unwrap_or_default(),
                    _ => "x-other".to_string(),
                };
                let value = match spec.cookies.first() {
                    Some(c) if name == "cookie" => format!("{c}={}; z=1", text(&mut next)),
                    _ => text(&mut next),
                };
                headers.push((name, value));
            }
            let path = format!("/{}?{}={}&{}", text(&mut next), text(&mut next), text(&mut next), text(&mut next));
            // Already in the key's case, or not (the key converts only when it must).
            let (method, host) = if next(2) == 0 { ("get", "Example.COM") } else { ("GET", "example.com") };
            let input = KeyInput { method, host, path: &path, headers: &headers };
            assert_eq!(spec.material(&input), reference::material(&spec, &input), "{spec:?} {input:?}");
            let (digest, identified) = spec.digest_identifying(&input);
            let streamed: String = {
                use sha2::Digest;
                sha2::Sha256::digest(reference::material(&spec, &input)).iter().map(|b| format!("{b:02x}")).collect()
            };
            assert_eq!(digest, streamed, "the digest names stored keys: {spec:?} {input:?}");
            assert_eq!(identified, spec.identifies(input.headers), "{spec:?} {input:?}");
        }
    }

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
