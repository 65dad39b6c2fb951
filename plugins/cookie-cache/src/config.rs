//! The plugin configuration: the shapes read from the configuration document with their
//! defaults, and validation that turns them into [`Settings`], naming the field path in every
//! error (`cache.key.cookies[0]: ...`).

use std::time::Duration;

use gateway_sdk::breaker::BreakerConfig;
use gateway_sdk::prelude::*;

use crate::key::KeySpec;
use crate::policy::StorePolicy;
use crate::query::QueryParamsConfig;

/// [`config_struct!`] for a struct whose every field has a default (serde's struct-level
/// `#[serde(default)]`): the defaults are written once, as `= expr`, and serve both an absent
/// key and the struct's [`Default`].
macro_rules! defaulted_config_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty = $default:expr ),* $(,)?
        }
    ) => {
        config_struct! {
            $(#[$meta])*
            $vis struct $name { $( $(#[$fmeta])* $fvis $field : $fty = $default ),* }
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default ),* }
            }
        }
    };
}

config_struct! {
    /// The whole configuration (global object or one `_rules_` entry merged over it).
    #[derive(Debug)]
    pub struct Config {
        /// The Redis service (Higress `redis` block).
        pub redis: RedisConfig,
        /// When to stop calling Redis after transport failures.
        pub circuit_breaker: BreakerConfig = BreakerConfig::default(),
        /// Prefix of every Redis key.
        pub key_prefix: String = "cookie-cache".into(),
        /// The response cache.
        pub cache: CacheConfig = CacheConfig::default(),
        /// Cached session/auth decisions (off when absent).
        pub session: Option<SessionConfig> = None,
    }
}

defaulted_config_struct! {
    /// `cache`: the response cache.
    #[derive(Debug)]
    pub struct CacheConfig {
        pub enabled: bool = true,
        pub name: String = "cookie-cache".into(),
        pub methods: Vec<String> = vec!["GET".into(), "HEAD".into()],
        pub key: KeyConfig = KeyConfig::default(),
        pub statuses: Vec<u16> = vec![200],
        pub max_body_bytes: u64 = 1024 * 1024,
        pub ttl_seconds: u64 = 60,
        pub stale_ttl_seconds: u64 = 3600,
        pub stale_on_status: Vec<u16> = vec![500, 502, 503, 504],
        pub store_set_cookie: bool = false,
        pub stampede: StampedeConfig = StampedeConfig::default(),
    }
}

defaulted_config_struct! {
    /// `cache.key`: what partitions the cache besides method, host and path.
    #[derive(Debug)]
    pub struct KeyConfig {
        pub cookies: Vec<String> = Vec::new(),
        pub query_params: QueryParamsConfig = QueryParamsConfig::default(),
        pub headers: Vec<String> = Vec::new(),
        /// The operator's acknowledgement that the key does not separate users, so responses (and
        /// with `store_set_cookie` their cookies) are shared by everyone: without it such configs
        /// are refused.
        pub shared_between_users: bool = false,
    }
}

defaulted_config_struct! {
    /// `cache.stampede`: one upstream fetch per key across all gateways.
    #[derive(Debug)]
    pub struct StampedeConfig {
        pub enabled: bool = true,
        pub lock_ms: u64 = 10_000,
        pub wait_ms: u64 = 1_000,
        pub poll_interval_ms: u64 = 25,
        pub max_polls: u32 = 100,
        pub hit_for_pass_ms: u64 = 30_000,
    }
}

config_struct! {
    /// `session`: a session cookie mapped to a cached auth decision.
    #[derive(Debug)]
    pub struct SessionConfig {
        pub cookie: String,
        pub required: bool = true,
        pub auth: AuthConfig,
        pub identity_headers: Vec<String> = Vec::new(),
        pub allow_ttl_seconds: u64 = 300,
        pub deny_ttl_seconds: u64 = 30,
        pub stale_ttl_seconds: u64 = 0,
        pub deny: DenyConfig = DenyConfig::default(),
        pub failure_status: u16 = 503,
        pub failure_mode: SessionFailureMode = SessionFailureMode::default(),
    }
}

config_struct! {
    /// `session.auth`: the auth service asked on a session miss.
    #[derive(Debug)]
    pub struct AuthConfig {
        pub service_name: String,
        pub service_port: Option<u16> = None,
        pub authority: Option<String> = None,
        pub method: String = "GET".into(),
        pub path: String = "/".into(),
        pub timeout_ms: u64 = 1000,
        pub forward_headers: Vec<String> = vec!["cookie".into()],
    }
}

defaulted_config_struct! {
    /// `session.deny`: the answer to a denied session.
    #[derive(Debug)]
    pub struct DenyConfig {
        pub status: Option<u16> = None,
        pub redirect: Option<String> = None,
        pub body: String = String::new(),
    }
}

/// What sessions do while Redis is unavailable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SessionFailureMode {
    /// Ask the auth service directly, without caching (default).
    #[default]
    AuthService,
    /// Answer `failure_status`.
    Deny,
    /// Let requests through without identity headers.
    Allow,
}

impl FromConfig for SessionFailureMode {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        node.variant(&[
            ("auth_service", SessionFailureMode::AuthService),
            ("deny", SessionFailureMode::Deny),
            ("allow", SessionFailureMode::Allow),
        ])
    }
}

/// The validated response-cache settings.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub name: String,
    pub methods: Vec<String>,
    pub key: KeySpec,
    pub policy: StorePolicy,
    pub stale_ms: u64,
    pub stale_on_status: Vec<u16>,
    pub stampede: Option<Stampede>,
}

/// The validated stampede-protection settings.
#[derive(Debug, Clone, Copy)]
pub struct Stampede {
    pub lock_ms: u64,
    pub wait_ms: u64,
    /// Pause between two lookups of a waiting request.
    pub poll_interval_ms: u64,
    pub max_polls: u32,
    /// How long a key whose fetch was not cacheable sends everyone straight upstream (0: never).
    pub hit_for_pass_ms: u64,
}

/// The validated session settings.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub cookie: String,
    pub required: bool,
    pub cluster: String,
    pub authority: String,
    pub method: String,
    pub path: String,
    pub timeout: Duration,
    pub forward_headers: Vec<String>,
    pub identity_headers: Vec<String>,
    pub allow_ms: u64,
    pub deny_ms: u64,
    pub stale_ms: u64,
    pub deny_status: u16,
    pub deny_location: Option<String>,
    pub deny_body: String,
    pub failure_status: u16,
    pub failure_mode: SessionFailureMode,
}

/// Everything validated except the Redis client (built by the plugin).
#[derive(Debug, Clone)]
pub struct Settings {
    pub prefix: String,
    pub cache: Option<CacheSettings>,
    pub session: Option<SessionSettings>,
}

const MAX_BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// Headers a session may never name as identity headers (the client or the host owns them).
const RESERVED_IDENTITY: &[&str] = &[
    "cookie",
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "trailer",
];

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn header_name(value: &str, at: &ConfigPath) -> Result<String, ConfigError> {
    if !is_token(value) {
        return Err(at.error(format!("`{value}` is not a valid header name")));
    }
    Ok(value.to_ascii_lowercase())
}

impl Config {
    /// Validates everything but the `redis` block (checked by the Redis client).
    pub fn compile(&self, at: &ConfigPath) -> Result<Settings, ConfigError> {
        self.circuit_breaker.validate(&at.field("circuit_breaker"))?;
        let prefix = self.key_prefix.trim();
        if prefix.is_empty() || prefix.contains(['{', '}']) || prefix.contains(char::is_whitespace) {
            return Err(at.field("key_prefix").error("must be non-empty, without braces or spaces"));
        }
        let cache = if self.cache.enabled { Some(self.cache.validate(&at.field("cache"))?) } else { None };
        let session = match &self.session {
            Some(s) => Some(s.validate(&at.field("session"))?),
            None => None,
        };
        if cache.is_none() && session.is_none() {
            return Err(at.error("nothing to do: enable `cache` or configure `session`"));
        }
        if let (Some(c), Some(s)) = (&cache, &session)
            && !self.cache.key.shared_between_users
        {
            check_sessions_are_keyed(c, s, at)?;
        }
        Ok(Settings { prefix: prefix.to_string(), cache, session })
    }
}

/// With sessions in front of the cache, the key must tell users apart: the upstream sees who is
/// signed in (the session cookie, identity headers), so a page it renders for one user would
/// otherwise be served to the next.
fn check_sessions_are_keyed(c: &CacheSettings, s: &SessionSettings, at: &ConfigPath) -> Result<(), ConfigError> {
    if c.key.cookies.contains(&s.cookie) || s.identity_headers.iter().any(|h| c.key.headers.contains(h)) {
        return Ok(());
    }
    let fix = format!(
        "add `{}` to cache.key.cookies (or an identity header to cache.key.headers), or set \
         cache.key.shared_between_users: true if every user gets the same pages",
        s.cookie
    );
    Err(if s.identity_headers.is_empty() {
        at.field("cache").field("key").field("cookies").error(format!(
            "the session cookie `{}` is not in the cache key, so a page rendered for one signed-in user \
             would be served to others: {fix}",
            s.cookie
        ))
    } else {
        at.field("session").field("identity_headers").error(format!(
            "identity headers personalise pages, but neither the session cookie nor an identity header is \
             in the cache key, so one user's page would be served to others: {fix}"
        ))
    })
}

impl CacheConfig {
    fn validate(&self, at: &ConfigPath) -> Result<CacheSettings, ConfigError> {
        if !is_token(&self.name) {
            return Err(at.field("name").error("must be a token (letters, digits, `-`, `_`, `.`)"));
        }
        if self.methods.is_empty() {
            return Err(at.field("methods").error("must list at least one method (GET or HEAD)"));
        }
        let mut methods = Vec::new();
        for (i, m) in self.methods.iter().enumerate() {
            let upper = m.trim().to_ascii_uppercase();
            if upper != "GET" && upper != "HEAD" {
                return Err(at
                    .field("methods")
                    .index(i)
                    .error(format!("`{m}` cannot be cached: only GET and HEAD are safe to answer from a cache")));
            }
            methods.push(upper);
        }
        let key = self.key.validate(&at.field("key"))?;
        if self.store_set_cookie && key.cookies.is_empty() && !self.key.shared_between_users {
            return Err(at.field("store_set_cookie").error(
                "with no cookie in cache.key.cookies, one visitor's Set-Cookie would be replayed to every \
                 visitor: list the cookie that identifies a visitor in cache.key.cookies, or set \
                 cache.key.shared_between_users: true if the stored cookies are meant for everyone",
            ));
        }
        if self.statuses.is_empty() {
            return Err(at.field("statuses").error("must list at least one status"));
        }
        for (i, s) in self.statuses.iter().enumerate() {
            if !(200..=599).contains(s) {
                return Err(at.field("statuses").index(i).error(format!("{s} is not a cacheable status (200-599)")));
            }
        }
        for (i, s) in self.stale_on_status.iter().enumerate() {
            if !(400..=599).contains(s) {
                return Err(at
                    .field("stale_on_status")
                    .index(i)
                    .error(format!("{s} is not an error status (400-599)")));
            }
            if self.statuses.contains(s) {
                return Err(at
                    .field("stale_on_status")
                    .index(i)
                    .error(format!("{s} is also listed in cache.statuses")));
            }
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > MAX_BODY_LIMIT {
            return Err(at.field("max_body_bytes").error(format!("must be between 1 and {MAX_BODY_LIMIT}")));
        }
        if self.ttl_seconds == 0 {
            return Err(at.field("ttl_seconds").error("must be at least 1"));
        }
        let stampede = if self.stampede.enabled {
            let s = &self.stampede;
            let here = at.field("stampede");
            if s.lock_ms == 0 {
                return Err(here.field("lock_ms").error("must be at least 1 (milliseconds)"));
            }
            if s.wait_ms > s.lock_ms {
                return Err(here.field("wait_ms").error("must not exceed lock_ms"));
            }
            if s.poll_interval_ms == 0 {
                return Err(here.field("poll_interval_ms").error("must be at least 1 (milliseconds)"));
            }
            Some(Stampede {
                lock_ms: s.lock_ms,
                wait_ms: s.wait_ms,
                poll_interval_ms: s.poll_interval_ms,
                max_polls: s.max_polls,
                hit_for_pass_ms: s.hit_for_pass_ms,
            })
        } else {
            None
        };
        let policy = StorePolicy {
            statuses: self.statuses.clone(),
            max_body_bytes: usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX),
            store_set_cookie: self.store_set_cookie,
            fresh_ms: self.ttl_seconds.saturating_mul(1000),
            key_headers: key.headers.clone(),
        };
        Ok(CacheSettings {
            name: self.name.clone(),
            methods,
            key,
            policy,
            stale_ms: self.stale_ttl_seconds.saturating_mul(1000),
            stale_on_status: self.stale_on_status.clone(),
            stampede,
        })
    }
}

impl KeyConfig {
    fn validate(&self, at: &ConfigPath) -> Result<KeySpec, ConfigError> {
        let mut cookies = Vec::new();
        for (i, c) in self.cookies.iter().enumerate() {
            if !is_token(c) {
                return Err(at.field("cookies").index(i).error(format!("`{c}` is not a valid cookie name")));
            }
            cookies.push(c.clone());
        }
        let query = self.query_params.validate(&at.field("query_params"))?;
        let mut headers = Vec::new();
        for (i, h) in self.headers.iter().enumerate() {
            let here = at.field("headers").index(i);
            let name = header_name(h, &here)?;
            if name == "cookie" {
                return Err(here.error("list cookie names in cache.key.cookies (their values are hashed)"));
            }
            headers.push(name);
        }
        Ok(KeySpec { cookies, query, headers })
    }
}

impl SessionConfig {
    fn validate(&self, at: &ConfigPath) -> Result<SessionSettings, ConfigError> {
        if !is_token(&self.cookie) {
            return Err(at.field("cookie").error(format!("`{}` is not a valid cookie name", self.cookie)));
        }
        let auth_at = at.field("auth");
        let service = self.auth.service_name.trim();
        if service.is_empty() || service.contains(['|', '?', '/']) || service.contains(char::is_whitespace) {
            return Err(auth_at.field("service_name").error("must be a service FQDN such as `auth.static`"));
        }
        if self.auth.service_port == Some(0) {
            return Err(auth_at.field("service_port").error("must be between 1 and 65535"));
        }
        let method = self.auth.method.trim().to_ascii_uppercase();
        if !is_token(&method) {
            return Err(auth_at.field("method").error("must be an HTTP method"));
        }
        if !self.auth.path.starts_with('/') {
            return Err(auth_at.field("path").error("must start with `/`"));
        }
        if self.auth.timeout_ms == 0 {
            return Err(auth_at.field("timeout_ms").error("must be at least 1 (milliseconds)"));
        }
        let mut forward_headers = Vec::new();
        for (i, h) in self.auth.forward_headers.iter().enumerate() {
            forward_headers.push(header_name(h, &auth_at.field("forward_headers").index(i))?);
        }
        let mut identity_headers = Vec::new();
        for (i, h) in self.identity_headers.iter().enumerate() {
            let here = at.field("identity_headers").index(i);
            let name = header_name(h, &here)?;
            if RESERVED_IDENTITY.contains(&name.as_str()) {
                return Err(here.error(format!("`{name}` cannot be an identity header")));
            }
            identity_headers.push(name);
        }
        if self.allow_ttl_seconds == 0 {
            return Err(at.field("allow_ttl_seconds").error("must be at least 1"));
        }
        if self.deny_ttl_seconds == 0 {
            return Err(at.field("deny_ttl_seconds").error("must be at least 1"));
        }
        let deny_at = at.field("deny");
        let deny_location = match &self.deny.redirect {
            Some(r) if r.trim().is_empty() || r.contains(['\r', '\n']) => {
                return Err(deny_at.field("redirect").error("must be a URL or an absolute path"));
            }
            Some(r) => Some(r.trim().to_string()),
            None => None,
        };
        let deny_status = match (self.deny.status, &deny_location) {
            (Some(s), Some(_)) if !(300..=399).contains(&s) => {
                return Err(deny_at.field("status").error("must be a 3xx status when `redirect` is set"));
            }
            (Some(s), None) if !(400..=599).contains(&s) => {
                return Err(deny_at.field("status").error("must be a 4xx or 5xx status"));
            }
            (Some(s), _) => s,
            (None, Some(_)) => 302,
            (None, None) => 403,
        };
        if !(400..=599).contains(&self.failure_status) {
            return Err(at.field("failure_status").error("must be a 4xx or 5xx status"));
        }
        let port = self.auth.service_port.unwrap_or(80);
        Ok(SessionSettings {
            cookie: self.cookie.clone(),
            required: self.required,
            cluster: format!("outbound|{port}||{service}"),
            authority: self.auth.authority.clone().unwrap_or_else(|| service.to_string()),
            method,
            path: self.auth.path.clone(),
            timeout: Duration::from_millis(self.auth.timeout_ms),
            forward_headers,
            identity_headers,
            allow_ms: self.allow_ttl_seconds.saturating_mul(1000),
            deny_ms: self.deny_ttl_seconds.saturating_mul(1000),
            stale_ms: self.stale_ttl_seconds.saturating_mul(1000),
            deny_status,
            deny_location,
            deny_body: self.deny.body.clone(),
            failure_status: self.failure_status,
            failure_mode: self.failure_mode,
        })
    }
}
