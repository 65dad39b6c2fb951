//! The Higress `redis` configuration block and the Envoy cluster name it resolves to.

use crate::config::{ConfigError, ConfigPath, Secret};

crate::config_struct! {
    /// The `redis` block of a plugin configuration, as in Higress's plugins.
    #[derive(Debug, Clone)]
    pub struct RedisConfig {
        /// The Redis service's FQDN with its registry suffix, e.g. `redis.static` or
        /// `redis.default.svc.cluster.local`.
        pub service_name: String,
        /// The service port: default 80 when `service_name` ends in `.static`, else 6379.
        pub service_port: Option<u16> = None,
        /// ACL user name (sent as `AUTH user pass`).
        pub username: Option<String> = None,
        /// Password (sent as `AUTH pass` without a user name). Never logged.
        pub password: Option<Secret> = None,
        /// Per-call timeout in milliseconds (default 1000).
        pub timeout: u32 = default_timeout(),
        /// Database index selected on each new connection (default 0).
        pub database: u32 = 0,
        /// Host write batching in milliseconds (`buffer_flush_timeout`; host default 3).
        /// Pass 0 for the lowest latency.
        pub buffer_flush_timeout: Option<u32> = None,
        /// Host write batching size in bytes (`max_buffer_size_before_flush`; host default 1024).
        pub max_buffer_size_before_flush: Option<u32> = None,
    }
}

fn default_timeout() -> u32 {
    1000
}

impl RedisConfig {
    /// Checks the values; `at` is the path of the `redis` block.
    pub fn validate(&self, at: &ConfigPath) -> Result<(), ConfigError> {
        let name = self.service_name.trim();
        if name.is_empty() {
            return Err(at.field("service_name").error("must not be empty"));
        }
        if name.contains('|') || name.contains('?') || name.contains(char::is_whitespace) {
            return Err(at
                .field("service_name")
                .error("must be a service FQDN such as `redis.static`, not a cluster name"));
        }
        if self.service_port == Some(0) {
            return Err(at.field("service_port").error("must be between 1 and 65535"));
        }
        if self.timeout == 0 {
            return Err(at.field("timeout").error("must be at least 1 (milliseconds)"));
        }
        if self.username.as_deref().is_some_and(|u| !u.is_empty())
            && self.password.as_ref().is_none_or(Secret::is_empty)
        {
            return Err(at.field("password").error("is required when username is set"));
        }
        Ok(())
    }

    /// The port used: `service_port`, else 80 for `.static` services, else 6379.
    pub fn port(&self) -> u16 {
        self.service_port.unwrap_or(if self.service_name.ends_with(".static") { 80 } else { 6379 })
    }

    /// The Envoy cluster name calls go to: `outbound|<port>||<service_name>`.
    pub fn cluster_name(&self) -> String {
        format!("outbound|{}||{}", self.port(), self.service_name.trim())
    }

    /// The service string given to `proxy_redis_init`: the cluster name plus `?db=`,
    /// `buffer_flush_timeout=` and `max_buffer_size_before_flush=` parameters when set.
    pub fn init_target(&self) -> String {
        let mut params = Vec::new();
        if self.database != 0 {
            params.push(format!("db={}", self.database));
        }
        if let Some(ms) = self.buffer_flush_timeout {
            params.push(format!("buffer_flush_timeout={ms}"));
        }
        if let Some(bytes) = self.max_buffer_size_before_flush {
            params.push(format!("max_buffer_size_before_flush={bytes}"));
        }
        if params.is_empty() { self.cluster_name() } else { format!("{}?{}", self.cluster_name(), params.join("&")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: crate::config::Value) -> RedisConfig {
        crate::config::read_at(&v, &ConfigPath::root("p")).unwrap()
    }

    #[test]
    fn defaults_follow_higress() {
        let c = parse(crate::config_json!({"service_name": "redis.static"}));
        assert_eq!(c.cluster_name(), "outbound|80||redis.static");
        assert_eq!(c.timeout, 1000);
        let c = parse(crate::config_json!({"service_name": "redis.dns"}));
        assert_eq!(c.cluster_name(), "outbound|6379||redis.dns");
        assert_eq!(c.init_target(), "outbound|6379||redis.dns");
    }

    #[test]
    fn database_and_batching_become_query_parameters() {
        let c = parse(crate::config_json!({"service_name": "r.dns", "service_port": 7000, "database": 2,
            "buffer_flush_timeout": 0, "max_buffer_size_before_flush": 0}));
        assert_eq!(c.init_target(), "outbound|7000||r.dns?db=2&buffer_flush_timeout=0&max_buffer_size_before_flush=0");
    }

    #[test]
    fn validation_names_fields() {
        let at = ConfigPath::root("p").field("redis");
        let bad = parse(crate::config_json!({"service_name": "outbound|6379||r.dns"}));
        assert_eq!(bad.validate(&at).unwrap_err().path, "redis.service_name");
        let bad = parse(crate::config_json!({"service_name": "r.dns", "timeout": 0}));
        assert_eq!(bad.validate(&at).unwrap_err().path, "redis.timeout");
        let bad = parse(crate::config_json!({"service_name": "r.dns", "username": "u"}));
        assert_eq!(bad.validate(&at).unwrap_err().path, "redis.password");
    }
}
