//! The query string's share of the cache key (`cache.key.query_params`).
//!
//! By default the whole query is keyed, so `/page?x=1` and `/page?x=2` are different entries and a
//! value reflected by the upstream is never served for another query. Parameters are put in a
//! stable order (sorted by name; repeated names keep their order, since applications read the
//! first or the last). One decoding is used everywhere: percent-escapes are normalised as RFC 3986
//! 6.2.2 allows (`%7e` is `~`, `%3c` is `%3C`), and nothing else is merged, so `<` and `%3C` or
//! `+` and `%20` stay apart: the key never joins two queries an application could tell apart.
//!
//! Listing names narrows the key to those parameters. A parameter counts as listed when its name,
//! fully decoded (`+` as a space) and compared without case, is a listed name, with `;` as a
//! separator as well as `&`: an attacker cannot hide a listed parameter from the key as
//! `p%61ge=`, `PAGE=` or `a=1;page=`, spellings some applications read as `page`. Listed
//! parameters enter the key as sent (normalised), in order. `ignore` leaves the query out.

use gateway_sdk::config::{ConfigError, ConfigNode, ConfigPath, FromConfig, Value};

/// Which query parameters enter the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum QueryKey {
    /// The whole query (the default).
    #[default]
    All,
    /// Only these parameter names.
    Only(Vec<String>),
    /// None: the operator opted out (`query_params: ignore`).
    Ignore,
}

/// One parameter as sent, its name and value normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name, percent-escapes normalised.
    pub name: String,
    /// The value, percent-escapes normalised; None when the parameter had no `=`.
    pub value: Option<String>,
}

impl Param {
    fn parse(segment: &str) -> Param {
        match segment.split_once('=') {
            Some((name, value)) => Param { name: normalise(name), value: Some(normalise(value)) },
            None => Param { name: normalise(segment), value: None },
        }
    }

    /// `name=value`, or `name` alone when there was no `=`.
    pub fn as_sent(&self) -> String {
        match &self.value {
            Some(v) => format!("{}={v}", self.name),
            None => self.name.clone(),
        }
    }
}

impl QueryKey {
    /// The parameters of `query` (the part after `?`, without a fragment) that enter the key, in
    /// key order. For [`QueryKey::Only`], one entry per listed name: its parameters in order
    /// (empty when absent).
    pub fn select(&self, query: Option<&str>) -> Selected {
        let query = query.unwrap_or("");
        match self {
            QueryKey::Ignore => Selected::Nothing,
            QueryKey::All => {
                let mut params: Vec<Param> = query.split('&').filter(|s| !s.is_empty()).map(Param::parse).collect();
                // A stable sort: repeated names keep the order the application sees them in.
                params.sort_by(|a, b| a.name.cmp(&b.name));
                Selected::All(params)
            }
            QueryKey::Only(names) => {
                let segments: Vec<&str> = query.split(['&', ';']).filter(|s| !s.is_empty()).collect();
                let listed = names
                    .iter()
                    .map(|wanted| {
                        let found = segments
                            .iter()
                            .filter(|s| {
                                let raw_name = s.split_once('=').map_or(**s, |(n, _)| n);
                                decode(raw_name).eq_ignore_ascii_case(wanted)
                            })
                            .map(|s| Param::parse(s))
                            .collect();
                        (wanted.clone(), found)
                    })
                    .collect();
                Selected::Only(listed)
            }
        }
    }
}

/// What [`QueryKey::select`] keeps of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    /// Every parameter, sorted by name.
    All(Vec<Param>),
    /// Each listed name with the parameters that matched it.
    Only(Vec<(String, Vec<Param>)>),
    /// The query is ignored.
    Nothing,
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The escape `%XY` at `i`, if there is a valid one.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes.get(i) != Some(&b'%') {
        return None;
    }
    let hi = hex_value(*bytes.get(i + 1)?)?;
    let lo = hex_value(*bytes.get(i + 2)?)?;
    Some(hi * 16 + lo)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 3986 6.2.2 normalisation of one query component: escapes of unreserved characters are
/// decoded, other escapes get upper-case hex, a `%` that starts no escape becomes `%25`. Every
/// other byte is kept as sent.
pub fn normalise(component: &str) -> String {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match escape_at(bytes, i) {
            Some(b) if is_unreserved(b) => {
                out.push(b);
                i += 3;
            }
            Some(b) => {
                out.extend_from_slice(&[b'%', HEX_UPPER[usize::from(b >> 4)], HEX_UPPER[usize::from(b & 0xf)]]);
                i += 3;
            }
            None if bytes[i] == b'%' => {
                out.extend_from_slice(b"%25");
                i += 1;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    // Only ASCII was added and whole UTF-8 sequences were copied, so this is lossless.
    String::from_utf8_lossy(&out).into_owned()
}

/// How an application decoding form data reads a component: every escape decoded, `+` a space.
pub fn decode(component: &str) -> String {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(b) = escape_at(bytes, i) {
            out.push(b);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `cache.key.query_params`: `"*"` (the whole query, the default), `"ignore"`, or parameter names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum QueryParamsConfig {
    #[default]
    All,
    Ignore,
    Names(Vec<String>),
}

/// What `cache.key.query_params` may be, as its errors say.
const QUERY_PARAMS_EXPECTED: &str = "\"*\" (the whole query), \"ignore\" or a list of query parameter names";

impl FromConfig for QueryParamsConfig {
    /// `"*"`, `"ignore"` or a list of strings; any other string is an invalid value, anything
    /// else an invalid type (a list's items are read as strings, errors naming their index).
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        match node.value() {
            Value::String(s) => match s.as_str() {
                "*" => Ok(QueryParamsConfig::All),
                "ignore" => Ok(QueryParamsConfig::Ignore),
                _ => Err(node.invalid_value(QUERY_PARAMS_EXPECTED)),
            },
            Value::Array(_) => node.read().map(QueryParamsConfig::Names),
            _ => Err(node.invalid_type(QUERY_PARAMS_EXPECTED)),
        }
    }
}

impl QueryParamsConfig {
    /// The validated form; errors name `at` (`cache.key.query_params[1]`).
    pub fn validate(&self, at: &ConfigPath) -> Result<QueryKey, ConfigError> {
        let names = match self {
            QueryParamsConfig::All => return Ok(QueryKey::All),
            QueryParamsConfig::Ignore => return Ok(QueryKey::Ignore),
            QueryParamsConfig::Names(names) => names,
        };
        if names.is_empty() {
            return Err(at.error(
                "an empty list keys no parameter: leave the field out to key the whole query, or write \
                 `ignore` to leave the query out of the key",
            ));
        }
        if names.len() == 1 && names[0] == "*" {
            return Ok(QueryKey::All);
        }
        for (i, q) in names.iter().enumerate() {
            if q == "*" {
                return Err(at.index(i).error("`*` (the whole query) cannot be combined with names"));
            }
            if q.is_empty() || q.contains(['&', ';', '=', '#']) {
                return Err(at.index(i).error(format!("`{q}` is not a query parameter name")));
            }
        }
        Ok(QueryKey::Only(names.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(query: &str) -> Vec<String> {
        match QueryKey::All.select(Some(query)) {
            Selected::All(params) => params.iter().map(Param::as_sent).collect(),
            other => panic!("{other:?}"),
        }
    }

    fn only(names: &[&str], query: &str) -> Vec<(String, Vec<String>)> {
        let key = QueryKey::Only(names.iter().map(|n| n.to_string()).collect());
        match key.select(Some(query)) {
            Selected::Only(listed) => {
                listed.into_iter().map(|(n, ps)| (n, ps.iter().map(Param::as_sent).collect())).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_whole_query_is_sorted_by_name_and_repeated_names_keep_their_order() {
        assert_eq!(all("b=2&a=1&c"), ["a=1", "b=2", "c"]);
        assert_eq!(all("a=2&b=1&a=1"), ["a=2", "a=1", "b=1"]);
        assert_ne!(all("a=1&a=2"), all("a=2&a=1"), "first-wins and last-wins applications differ");
        assert_eq!(all("&&a=1&"), ["a=1"], "empty segments are nothing");
        assert_ne!(all("a"), all("a="), "no value and an empty value stay apart");
    }

    #[test]
    fn escapes_are_normalised_but_nothing_an_application_can_tell_apart_is_merged() {
        assert_eq!(normalise("%7e%41%2d"), "~A-", "unreserved escapes are decoded");
        assert_eq!(normalise("%3c%2F"), "%3C%2F", "other escapes get upper-case hex");
        assert_eq!(normalise("100%"), "100%25");
        assert_eq!(normalise("%zz"), "%25zz");
        assert_eq!(normalise("ä"), "ä", "UTF-8 is kept as sent");
        assert_ne!(normalise("<"), normalise("%3C"), "a raw `<` is reflected differently from `%3C`");
        assert_ne!(normalise("+"), normalise("%20"));
        assert_ne!(normalise("%2B"), normalise("+"));
    }

    #[test]
    fn form_decoding_reads_names_as_applications_do() {
        assert_eq!(decode("p%61ge"), "page");
        assert_eq!(decode("a+b%20c"), "a b c");
        assert_eq!(decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn listed_names_are_found_under_every_spelling_and_enter_the_key_as_sent() {
        let q = "PAGE=1&utm=x;page=2&p%61ge=3&pag=4&page";
        assert_eq!(
            only(&["page", "sort"], q),
            [
                ("page".to_string(), vec!["PAGE=1".into(), "page=2".into(), "page=3".into(), "page".into()]),
                ("sort".to_string(), vec![]),
            ]
        );
        assert_ne!(only(&["page"], "page=1"), only(&["page"], "PAGE=1"), "spellings are told apart");
        assert_eq!(only(&["page"], "utm=1&page=1"), only(&["page"], "page=1&utm=2"));
    }

    #[test]
    fn ignore_keeps_nothing() {
        assert_eq!(QueryKey::Ignore.select(Some("a=1")), Selected::Nothing);
    }
}
