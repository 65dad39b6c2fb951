//! Key selection for Higress `rule_items`: which rule item a request falls under, the value
//! it is counted by, and that key's limits. Compiled once at configure time.
//!
//! Matching follows Higress's `cluster-key-rate-limit`: items are tried in order and the first
//! item whose source value is present and matches one of its `limit_keys` wins (within an item,
//! the first matching key wins). `limit_by_*` items match the value exactly; `limit_by_per_*`
//! items match by `regexp:<re>` or `*`, and every distinct value gets its own counter;
//! `limit_by_per_ip` matches IPs and CIDR blocks, each IP counted on its own.

use std::fmt;
use std::net::IpAddr;

use super::cidr::Cidr;
use gateway_sdk::HttpContext;
use gateway_sdk::config::{ConfigError, ConfigNode, ConfigPath, FromConfig, Value};

/// The consumer header Higress's authentication plugins set.
pub const CONSUMER_HEADER: &str = "x-mse-consumer";

/// Values longer than this are replaced by their SHA-1 in Redis keys.
const MAX_KEY_VALUE_LEN: usize = 128;

/// What a request offers to key selection. Implemented for [`HttpContext`]; tests implement it
/// on plain data.
pub trait RequestKeys {
    /// A request header (case-insensitive name).
    fn header(&self, name: &str) -> Option<String>;
    /// The first value of a query parameter, percent-decoded.
    fn query_param(&self, name: &str) -> Option<String>;
    /// A cookie value.
    fn cookie(&self, name: &str) -> Option<String>;
    /// The peer's IP address (`source.address`).
    fn remote_ip(&self) -> Option<IpAddr>;
}

impl RequestKeys for HttpContext {
    fn header(&self, name: &str) -> Option<String> {
        self.request_header(name)
    }
    fn query_param(&self, name: &str) -> Option<String> {
        HttpContext::query_param(self, name)
    }
    fn cookie(&self, name: &str) -> Option<String> {
        HttpContext::cookie(self, name)
    }
    fn remote_ip(&self) -> Option<IpAddr> {
        self.client_ip()
    }
}

/// The nine Higress rule item types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// `limit_by_header`: exact header values.
    ByHeader,
    /// `limit_by_param`: exact query parameter values.
    ByParam,
    /// `limit_by_consumer`: exact consumer names.
    ByConsumer,
    /// `limit_by_cookie`: exact cookie values.
    ByCookie,
    /// `limit_by_per_header`: each header value matching `regexp:`/`*` counted separately.
    PerHeader,
    /// `limit_by_per_param`: each parameter value counted separately.
    PerParam,
    /// `limit_by_per_consumer`: each consumer counted separately.
    PerConsumer,
    /// `limit_by_per_cookie`: each cookie value counted separately.
    PerCookie,
    /// `limit_by_per_ip`: each client IP inside a listed network counted separately.
    PerIp,
}

impl LimitKind {
    /// The configuration key, e.g. `limit_by_per_header`.
    pub fn as_str(&self) -> &'static str {
        match self {
            LimitKind::ByHeader => "limit_by_header",
            LimitKind::ByParam => "limit_by_param",
            LimitKind::ByConsumer => "limit_by_consumer",
            LimitKind::ByCookie => "limit_by_cookie",
            LimitKind::PerHeader => "limit_by_per_header",
            LimitKind::PerParam => "limit_by_per_param",
            LimitKind::PerConsumer => "limit_by_per_consumer",
            LimitKind::PerCookie => "limit_by_per_cookie",
            LimitKind::PerIp => "limit_by_per_ip",
        }
    }

    fn is_per_value(&self) -> bool {
        matches!(self, LimitKind::PerHeader | LimitKind::PerParam | LimitKind::PerConsumer | LimitKind::PerCookie)
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `limit_keys[].key` value: a string, or a number as YAML turns `key: 102234` into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyText(pub String);

impl FromConfig for KeyText {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        match node.value() {
            Value::String(s) => Ok(KeyText(s.clone())),
            Value::Number(n) if n.as_i64().is_some() || n.as_u64().is_some() => Ok(KeyText(n.as_text().to_string())),
            _ => Err(node.error("must be a string (or an integer)")),
        }
    }
}

/// A `limit_keys` entry: the plugin's own type (with its window fields), exposing its `key`.
pub trait LimitKeyEntry {
    /// The entry's `key`.
    fn key(&self) -> &str;
}

/// One entry of `rule_items`, as Higress writes it. `E` is the plugin's `limit_keys` entry.
/// Exactly one `limit_by_*` field must be set.
#[derive(Debug, Clone)]
pub struct RuleItemConfig<E> {
    /// `limit_by_header: <header name>`.
    pub limit_by_header: Option<String>,
    /// `limit_by_param: <query parameter name>`.
    pub limit_by_param: Option<String>,
    /// `limit_by_consumer: ''` (the value is ignored; the consumer comes from `x-mse-consumer`).
    pub limit_by_consumer: Option<Value>,
    /// `limit_by_cookie: <cookie name>`.
    pub limit_by_cookie: Option<String>,
    /// `limit_by_per_header: <header name>`.
    pub limit_by_per_header: Option<String>,
    /// `limit_by_per_param: <query parameter name>`.
    pub limit_by_per_param: Option<String>,
    /// `limit_by_per_consumer: ''`.
    pub limit_by_per_consumer: Option<Value>,
    /// `limit_by_per_cookie: <cookie name>`.
    pub limit_by_per_cookie: Option<String>,
    /// `limit_by_per_ip: from-remote-addr | from-header-<name>`.
    pub limit_by_per_ip: Option<String>,
    /// The keys and their limits.
    pub limit_keys: Vec<E>,
}

impl<E: FromConfig> FromConfig for RuleItemConfig<E> {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        const FIELDS: &[&str] = &[
            "limit_by_header",
            "limit_by_param",
            "limit_by_consumer",
            "limit_by_cookie",
            "limit_by_per_header",
            "limit_by_per_param",
            "limit_by_per_consumer",
            "limit_by_per_cookie",
            "limit_by_per_ip",
            "limit_keys",
        ];
        let f = node.fields("struct RuleItemConfig", FIELDS)?;
        Ok(RuleItemConfig {
            limit_by_header: f.optional("limit_by_header")?,
            limit_by_param: f.optional("limit_by_param")?,
            limit_by_consumer: f.optional("limit_by_consumer")?,
            limit_by_cookie: f.optional("limit_by_cookie")?,
            limit_by_per_header: f.optional("limit_by_per_header")?,
            limit_by_per_param: f.optional("limit_by_per_param")?,
            limit_by_per_consumer: f.optional("limit_by_per_consumer")?,
            limit_by_per_cookie: f.optional("limit_by_per_cookie")?,
            limit_by_per_ip: f.optional("limit_by_per_ip")?,
            limit_keys: f.required("limit_keys")?,
        })
    }
}

/// Where an item reads its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Header(String),
    Param(String),
    Consumer,
    Cookie(String),
    IpFromHeader(String),
    RemoteAddr,
}

#[derive(Debug)]
enum KeyMatcher {
    Exact(String),
    Any,
    Regex(gateway_regex::Regex),
    Network(Cidr),
}

#[derive(Debug)]
struct CompiledItem<T> {
    kind: LimitKind,
    name: String,
    source: Source,
    keys: Vec<(KeyMatcher, T)>,
}

/// Compiled `rule_items`: resolves a request to its item, key value and limits.
#[derive(Debug)]
pub struct KeySelector<T> {
    items: Vec<CompiledItem<T>>,
}

/// What [`KeySelector::select`] found for a request.
#[derive(Debug)]
pub struct Selection<'a, T> {
    /// Index of the rule item in `rule_items`.
    pub item: usize,
    /// Index of the matching entry in that item's `limit_keys`.
    pub key_index: usize,
    /// The item's type.
    pub kind: LimitKind,
    /// The item's source name (header, parameter or cookie name; `x-mse-consumer`; or the
    /// `limit_by_per_ip` value).
    pub name: &'a str,
    /// The request's value (for `limit_by_per_ip`, the normalised IP).
    pub value: String,
    /// The matching entry's limits.
    pub limits: &'a T,
}

impl<T> Selection<'_, T> {
    /// A stable identity for counters: `<kind>:<name>:<value>`, with over-long values replaced
    /// by their SHA-1 so Redis keys stay short.
    pub fn counter_id(&self) -> String {
        let hashed;
        let value = if self.value.len() > MAX_KEY_VALUE_LEN {
            hashed = format!("sha1-{}", sha1_smol::Sha1::from(self.value.as_bytes()).digest());
            hashed.as_str()
        } else {
            self.value.as_str()
        };
        // Concatenated, not `format!`ed: this runs on every request.
        let kind = self.kind.as_str();
        let mut id = String::with_capacity(kind.len() + self.name.len() + value.len() + 2);
        for part in [kind, ":", self.name, ":", value] {
            id.push_str(part);
        }
        id
    }
}

impl<T> KeySelector<T> {
    /// Compiles `rule_items` (at path `at`), turning each `limit_keys` entry into `T` with
    /// `limits` (called with the entry and its path). Errors name the field path: a missing or
    /// doubled `limit_by_*`, empty `limit_keys`, a bad `regexp:`, a bad CIDR.
    pub fn compile<E: LimitKeyEntry>(
        items: Vec<RuleItemConfig<E>>,
        at: &ConfigPath,
        mut limits: impl FnMut(&E, &ConfigPath) -> Result<T, ConfigError>,
    ) -> Result<Self, ConfigError> {
        if items.is_empty() {
            return Err(at.error("must hold at least one rule item"));
        }
        let mut compiled = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let here = at.index(i);
            let (kind, name, source) = item_source(&item, &here)?;
            if item.limit_keys.is_empty() {
                return Err(here.field("limit_keys").error("must hold at least one key"));
            }
            let mut keys = Vec::with_capacity(item.limit_keys.len());
            for (j, entry) in item.limit_keys.iter().enumerate() {
                let key_at = here.field("limit_keys").index(j);
                let matcher = key_matcher(kind, entry.key(), &key_at.field("key"))?;
                keys.push((matcher, limits(entry, &key_at)?));
            }
            compiled.push(CompiledItem { kind, name, source, keys });
        }
        Ok(KeySelector { items: compiled })
    }

    /// The first item and key that match the request, or `None` (the request is not limited).
    pub fn select(&self, request: &impl RequestKeys) -> Option<Selection<'_, T>> {
        self.items.iter().enumerate().find_map(|(i, item)| {
            let value = source_value(&item.source, request)?;
            if item.kind == LimitKind::PerIp {
                let ip: IpAddr = value.parse().ok()?;
                let ip = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                    v4 => v4,
                };
                let (j, (_, limits)) = item
                    .keys
                    .iter()
                    .enumerate()
                    .find(|(_, (m, _))| matches!(m, KeyMatcher::Network(net) if net.contains(ip)))?;
                return Some(Selection {
                    item: i,
                    key_index: j,
                    kind: item.kind,
                    name: &item.name,
                    value: ip.to_string(),
                    limits,
                });
            }
            let (j, (_, limits)) = item.keys.iter().enumerate().find(|(_, (m, _))| match m {
                KeyMatcher::Exact(k) => *k == value,
                KeyMatcher::Any => true,
                KeyMatcher::Regex(re) => re.is_match(&value),
                KeyMatcher::Network(_) => false,
            })?;
            Some(Selection { item: i, key_index: j, kind: item.kind, name: &item.name, value, limits })
        })
    }

    /// Every compiled limit with the index of its item in `rule_items` and of its entry in
    /// that item's `limit_keys` (to check limits with their config paths).
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, &T)> {
        self.items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| item.keys.iter().enumerate().map(move |(j, (_, t))| (i, j, t)))
    }

    /// Every compiled limit, in item and key order (e.g. to size caches or list policies).
    pub fn limits(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flat_map(|i| i.keys.iter().map(|(_, t)| t))
    }
}

fn item_source<E>(item: &RuleItemConfig<E>, at: &ConfigPath) -> Result<(LimitKind, String, Source), ConfigError> {
    let mut found: Vec<(LimitKind, String, Source)> = Vec::new();
    let mut named = |kind: LimitKind, value: &Option<String>, make: fn(String) -> Source| -> Result<(), ConfigError> {
        if let Some(v) = value {
            let v = v.trim();
            if v.is_empty() {
                return Err(at.field(kind.as_str()).error("must name a header, parameter or cookie"));
            }
            found.push((kind, v.to_string(), make(v.to_string())));
        }
        Ok(())
    };
    named(LimitKind::ByHeader, &item.limit_by_header, Source::Header)?;
    named(LimitKind::ByParam, &item.limit_by_param, Source::Param)?;
    named(LimitKind::ByCookie, &item.limit_by_cookie, Source::Cookie)?;
    named(LimitKind::PerHeader, &item.limit_by_per_header, Source::Header)?;
    named(LimitKind::PerParam, &item.limit_by_per_param, Source::Param)?;
    named(LimitKind::PerCookie, &item.limit_by_per_cookie, Source::Cookie)?;
    if item.limit_by_consumer.is_some() {
        found.push((LimitKind::ByConsumer, CONSUMER_HEADER.to_string(), Source::Consumer));
    }
    if item.limit_by_per_consumer.is_some() {
        found.push((LimitKind::PerConsumer, CONSUMER_HEADER.to_string(), Source::Consumer));
    }
    if let Some(v) = &item.limit_by_per_ip {
        let v = v.trim();
        let source = if v == "from-remote-addr" {
            Source::RemoteAddr
        } else if let Some(h) = v.strip_prefix("from-header-").filter(|h| !h.is_empty()) {
            Source::IpFromHeader(h.to_ascii_lowercase())
        } else {
            return Err(at.field("limit_by_per_ip").error("must be `from-remote-addr` or `from-header-<header name>`"));
        };
        found.push((LimitKind::PerIp, v.to_string(), source));
    }
    let mut found = found.into_iter();
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(at.error(
            "no limit_by_* field: set exactly one of limit_by_header, limit_by_param, limit_by_consumer, \
             limit_by_cookie, limit_by_per_header, limit_by_per_param, limit_by_per_consumer, \
             limit_by_per_cookie, limit_by_per_ip",
        )),
        (Some(a), Some(b)) => Err(at.error(format!("set exactly one limit_by_* field, not both {} and {}", a.0, b.0))),
    }
}

fn key_matcher(kind: LimitKind, key: &str, at: &ConfigPath) -> Result<KeyMatcher, ConfigError> {
    if kind == LimitKind::PerIp {
        return Cidr::parse(key).map(KeyMatcher::Network).map_err(|e| at.error(e));
    }
    if key.is_empty() {
        return Err(at.error("must not be empty"));
    }
    if !kind.is_per_value() {
        return Ok(KeyMatcher::Exact(key.to_string()));
    }
    if key == "*" {
        return Ok(KeyMatcher::Any);
    }
    match key.strip_prefix("regexp:") {
        Some(re) => gateway_regex::Regex::new(re)
            .map(KeyMatcher::Regex)
            .map_err(|e| at.error(format!("`{key}` is not a valid regular expression: {e}"))),
        None => Err(at.error(format!("a {kind} key must be `*` or start with `regexp:`, got `{key}`"))),
    }
}

fn source_value(source: &Source, request: &impl RequestKeys) -> Option<String> {
    let value = match source {
        Source::Header(name) => request.header(name),
        Source::Param(name) => request.query_param(name),
        Source::Consumer => request.header(CONSUMER_HEADER),
        Source::Cookie(name) => request.cookie(name),
        Source::IpFromHeader(name) => request.header(name).and_then(|v| first_ip(&v)),
        Source::RemoteAddr => request.remote_ip().map(|ip| ip.to_string()),
    }?;
    (!value.is_empty()).then_some(value)
}

/// The first address of an `x-forwarded-for`-style list, without a port.
fn first_ip(list: &str) -> Option<String> {
    let first = list.split(',').next()?.trim();
    gateway_sdk::parse_ip(first).map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    gateway_sdk::config_struct! {
        #[derive(Debug)]
        struct Entry {
            key: KeyText,
            quota: u64,
        }
    }

    impl LimitKeyEntry for Entry {
        fn key(&self) -> &str {
            &self.key.0
        }
    }

    #[derive(Default)]
    struct Req {
        headers: HashMap<String, String>,
        params: HashMap<String, String>,
        cookies: HashMap<String, String>,
        ip: Option<IpAddr>,
    }

    impl RequestKeys for Req {
        fn header(&self, name: &str) -> Option<String> {
            self.headers.get(name).cloned()
        }
        fn query_param(&self, name: &str) -> Option<String> {
            self.params.get(name).cloned()
        }
        fn cookie(&self, name: &str) -> Option<String> {
            self.cookies.get(name).cloned()
        }
        fn remote_ip(&self) -> Option<IpAddr> {
            self.ip
        }
    }

    fn compile(items: gateway_sdk::config::Value) -> Result<KeySelector<u64>, ConfigError> {
        let at = ConfigPath::root("p").field("rule_items");
        let items: Vec<RuleItemConfig<Entry>> = gateway_sdk::config::read_at(&items, &at)?;
        KeySelector::compile(items, &at, |e, _| Ok(e.quota))
    }

    fn header(name: &str, value: &str) -> Req {
        Req { headers: HashMap::from([(name.to_string(), value.to_string())]), ..Req::default() }
    }

    #[test]
    fn exact_items_come_before_per_value_items_in_order() {
        let sel = compile(gateway_sdk::config_json!([
            {"limit_by_header": "x-ca-key", "limit_keys": [{"key": 102234, "quota": 10}, {"key": "308239", "quota": 20}]},
            {"limit_by_per_header": "x-ca-key", "limit_keys": [
                {"key": "regexp:^a.*", "quota": 30}, {"key": "*", "quota": 40}]}
        ]))
        .unwrap();
        let s = sel.select(&header("x-ca-key", "102234")).unwrap();
        assert_eq!((s.item, *s.limits, s.counter_id().as_str()), (0, 10, "limit_by_header:x-ca-key:102234"));
        let s = sel.select(&header("x-ca-key", "abc")).unwrap();
        assert_eq!((s.item, s.key_index, *s.limits), (1, 0, 30));
        assert_eq!(s.counter_id(), "limit_by_per_header:x-ca-key:abc");
        let s = sel.select(&header("x-ca-key", "zzz")).unwrap();
        assert_eq!(*s.limits, 40);
        assert!(sel.select(&Req::default()).is_none(), "no header, no limit");
    }

    #[test]
    fn params_cookies_and_consumers() {
        let sel = compile(gateway_sdk::config_json!([
            {"limit_by_param": "apikey", "limit_keys": [{"key": "k1", "quota": 1}]},
            {"limit_by_per_cookie": "sid", "limit_keys": [{"key": "*", "quota": 2}]},
            {"limit_by_per_consumer": "", "limit_keys": [{"key": "regexp:^b", "quota": 3}]}
        ]))
        .unwrap();
        let req = Req { params: HashMap::from([("apikey".into(), "k1".into())]), ..Req::default() };
        assert_eq!(*sel.select(&req).unwrap().limits, 1);
        let req = Req { params: HashMap::from([("apikey".into(), "k2".into())]), ..Req::default() };
        assert!(sel.select(&req).is_none(), "an unlisted exact key is not limited");
        let req = Req { cookies: HashMap::from([("sid".into(), "s".into())]), ..Req::default() };
        assert_eq!(sel.select(&req).unwrap().counter_id(), "limit_by_per_cookie:sid:s");
        let s = sel.select(&header(CONSUMER_HEADER, "bob")).unwrap();
        assert_eq!((*s.limits, s.counter_id().as_str()), (3, "limit_by_per_consumer:x-mse-consumer:bob"));
        assert!(sel.select(&header(CONSUMER_HEADER, "alice")).is_none());
    }

    #[test]
    fn ips_match_networks_from_headers_or_the_peer() {
        let sel = compile(gateway_sdk::config_json!([
            {"limit_by_per_ip": "from-header-x-forwarded-for", "limit_keys": [
                {"key": "1.1.1.1", "quota": 10}, {"key": "1.1.1.0/24", "quota": 100}, {"key": "0.0.0.0/0", "quota": 1000}]},
            {"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "::/0", "quota": 7}]}
        ]))
        .unwrap();
        let s = sel.select(&header("x-forwarded-for", "1.1.1.1, 10.0.0.1")).unwrap();
        assert_eq!((*s.limits, s.value.as_str()), (10, "1.1.1.1"));
        assert_eq!(*sel.select(&header("x-forwarded-for", "1.1.1.7")).unwrap().limits, 100);
        assert_eq!(*sel.select(&header("x-forwarded-for", "8.8.8.8:443")).unwrap().limits, 1000);
        let req = Req { ip: "2001:db8::1".parse().ok(), ..Req::default() };
        assert_eq!(*sel.select(&req).unwrap().limits, 7);
        assert!(sel.select(&header("x-forwarded-for", "garbage")).is_none());
    }

    #[test]
    fn long_values_are_hashed_in_counter_ids() {
        let sel = compile(
            gateway_sdk::config_json!([{"limit_by_per_header": "k", "limit_keys": [{"key": "*", "quota": 1}]}]),
        )
        .unwrap();
        let long = "v".repeat(500);
        let id = sel.select(&header("k", &long)).unwrap().counter_id();
        assert!(id.starts_with("limit_by_per_header:k:sha1-") && id.len() < 100, "{id}");
    }

    #[test]
    fn bad_items_name_the_field_path() {
        let path = |v: gateway_sdk::config::Value| compile(v).unwrap_err().path;
        assert_eq!(path(gateway_sdk::config_json!([{"limit_keys": [{"key": "a", "quota": 1}]}])), "rule_items[0]");
        assert_eq!(
            path(
                gateway_sdk::config_json!([{"limit_by_header": "a", "limit_by_param": "b", "limit_keys": [{"key": "a", "quota": 1}]}])
            ),
            "rule_items[0]"
        );
        assert_eq!(
            path(
                gateway_sdk::config_json!([{"limit_by_per_header": "a", "limit_keys": [{"key": "*", "quota": 1}, {"key": "regexp:(", "quota": 1}]}])
            ),
            "rule_items[0].limit_keys[1].key"
        );
        assert_eq!(
            path(
                gateway_sdk::config_json!([{"limit_by_per_header": "a", "limit_keys": [{"key": "exact", "quota": 1}]}])
            ),
            "rule_items[0].limit_keys[0].key"
        );
        assert_eq!(
            path(
                gateway_sdk::config_json!([{"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "1.1.1.0/40", "quota": 1}]}])
            ),
            "rule_items[0].limit_keys[0].key"
        );
        assert_eq!(
            path(
                gateway_sdk::config_json!([{"limit_by_per_ip": "from-socket", "limit_keys": [{"key": "1.1.1.1", "quota": 1}]}])
            ),
            "rule_items[0].limit_by_per_ip"
        );
        assert_eq!(
            path(gateway_sdk::config_json!([{"limit_by_header": "a", "limit_keys": []}])),
            "rule_items[0].limit_keys"
        );
        assert_eq!(path(gateway_sdk::config_json!([])), "rule_items");
        let err =
            compile(gateway_sdk::config_json!([{"limit_by_header": "a", "limit_keys": [], "bogus": 1}])).unwrap_err();
        assert!(err.message.contains("bogus"), "{err}");
    }
}
