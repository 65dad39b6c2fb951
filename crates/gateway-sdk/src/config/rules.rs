//! The Higress rule shape: a global configuration plus `_rules_`, each matched by route,
//! domain (with `*` wildcards), service or route-name prefix. The first matching rule wins,
//! else the global configuration applies, else the plugin is skipped for that request.
//!
//! A rule's configuration is the global object with the rule's own keys laid over it
//! (top-level keys of the rule replace the global ones), so a `redis` block given once
//! globally serves every rule.

use serde_json::{Map, Value};

use super::{ConfigError, ConfigPath, deserialize_at};
use crate::plugin::{Plugin, Shared};

const RULES_KEY: &str = "_rules_";
const MATCH_ROUTE: &str = "_match_route_";
const MATCH_DOMAIN: &str = "_match_domain_";
const MATCH_SERVICE: &str = "_match_service_";
const MATCH_ROUTE_PREFIX: &str = "_match_route_prefix_";

/// What a request offers to rule matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInput {
    /// The `route_name` property.
    pub route: Option<String>,
    /// The request host without port (from `:authority`).
    pub host: String,
    /// The `cluster_name` property, e.g. `outbound|80||backend.static`.
    pub cluster: Option<String>,
}

/// A host pattern: exact, `*.example.com`, `example.*` or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DomainPattern {
    Any,
    Exact(String),
    Suffix(String),
    Prefix(String),
}

impl DomainPattern {
    fn parse(p: &str) -> Result<Self, String> {
        let p = p.trim().to_ascii_lowercase();
        if p == "*" {
            return Ok(DomainPattern::Any);
        }
        if let Some(rest) = p.strip_prefix('*') {
            if rest.is_empty() || rest.contains('*') {
                return Err(format!("unsupported wildcard in domain `{p}`"));
            }
            return Ok(DomainPattern::Suffix(rest.to_string()));
        }
        if let Some(rest) = p.strip_suffix('*') {
            if rest.contains('*') {
                return Err(format!("unsupported wildcard in domain `{p}`"));
            }
            return Ok(DomainPattern::Prefix(rest.to_string()));
        }
        if p.contains('*') {
            return Err(format!("`*` may only start or end a domain: `{p}`"));
        }
        Ok(DomainPattern::Exact(p))
    }

    fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match self {
            DomainPattern::Any => true,
            DomainPattern::Exact(d) => host == *d,
            DomainPattern::Suffix(s) => host.ends_with(s.as_str()) && host.len() > s.len(),
            DomainPattern::Prefix(p) => host.starts_with(p.as_str()) && host.len() > p.len(),
        }
    }
}

/// Which requests a rule applies to. A request matches when any listed condition matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    routes: Vec<String>,
    domains: Vec<DomainPattern>,
    services: Vec<String>,
    route_prefixes: Vec<String>,
}

impl Matcher {
    /// Whether the request described by `input` matches.
    pub fn matches(&self, input: &MatchInput) -> bool {
        let route = input.route.as_deref();
        self.routes.iter().any(|r| route == Some(r.as_str()))
            || self.route_prefixes.iter().any(|p| route.is_some_and(|r| r.starts_with(p.as_str())))
            || self.domains.iter().any(|d| d.matches(&input.host))
            || self.services.iter().any(|s| service_matches(s, input.cluster.as_deref()))
    }

    /// Whether the rule needs the request host.
    fn uses_host(&self) -> bool {
        !self.domains.is_empty()
    }
}

/// `_match_service_` entries name a service `fqdn` or `fqdn:port`, or a full cluster name.
fn service_matches(pattern: &str, cluster: Option<&str>) -> bool {
    let Some(cluster) = cluster else { return false };
    if pattern == cluster {
        return true;
    }
    // outbound|<port>|<subset>|<fqdn>
    let mut parts = cluster.split('|');
    let (Some(_dir), Some(port), Some(_subset), Some(fqdn)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    match pattern.rsplit_once(':') {
        Some((name, p)) if p.bytes().all(|b| b.is_ascii_digit()) => name == fqdn && p == port,
        _ => pattern == fqdn,
    }
}

/// A rule: its matcher and its compiled configuration.
pub struct Rule<P> {
    /// Which requests it applies to.
    pub matcher: Matcher,
    /// The compiled configuration.
    pub plugin: Shared<P>,
}

/// Every compiled configuration of a plugin, ready for lookups on the request path.
pub struct RuleSet<P> {
    global: Option<Shared<P>>,
    rules: Vec<Rule<P>>,
}

impl<P: Plugin> RuleSet<P> {
    /// Parses, validates and compiles a whole plugin configuration (JSON bytes as Higress
    /// delivers them). An empty buffer is treated as `{}`.
    pub fn compile(bytes: &[u8]) -> Result<Self, ConfigError> {
        let root = ConfigPath::root(P::NAME);
        let text = std::str::from_utf8(bytes).map_err(|_| root.error("configuration is not UTF-8"))?;
        let value: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(text).map_err(|e| root.error(format!("not valid JSON: {e}")))?
        };
        let Value::Object(mut top) = value else {
            return Err(root.error("the configuration must be a JSON object"));
        };
        let raw_rules = match top.remove(RULES_KEY) {
            None => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(root.field(RULES_KEY).error("must be an array of rules")),
        };
        let global = if top.is_empty() && !raw_rules.is_empty() {
            None
        } else {
            Some(compile_one::<P>(Value::Object(top.clone()), &root)?)
        };
        let mut rules = Vec::with_capacity(raw_rules.len());
        for (i, raw) in raw_rules.into_iter().enumerate() {
            let at = root.field(RULES_KEY).index(i);
            let Value::Object(mut rule) = raw else {
                return Err(at.error("a rule must be an object"));
            };
            let matcher = take_matcher(&mut rule, &at)?;
            let mut merged = top.clone();
            merged.extend(rule);
            let plugin = compile_one::<P>(Value::Object(merged), &at)?;
            rules.push(Rule { matcher, plugin });
        }
        Ok(RuleSet { global, rules })
    }
}

impl<P> RuleSet<P> {
    /// The configuration for a request: the first matching rule's, else the global one.
    pub fn select(&self, input: &MatchInput) -> Option<&Shared<P>> {
        self.rules.iter().find(|r| r.matcher.matches(input)).map(|r| &r.plugin).or(self.global.as_ref())
    }

    /// Whether any rule exists (requests then need their route, host and cluster looked up).
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Whether any rule matches on the request host.
    pub fn needs_host(&self) -> bool {
        self.rules.iter().any(|r| r.matcher.uses_host())
    }

    /// The global configuration, if there is one.
    pub fn global(&self) -> Option<&Shared<P>> {
        self.global.as_ref()
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule<P>] {
        &self.rules
    }
}

fn compile_one<P: Plugin>(value: Value, at: &ConfigPath) -> Result<Shared<P>, ConfigError> {
    let config: P::Config = deserialize_at(value, at)?;
    P::compile(config, at).map(Shared::new)
}

fn take_matcher(rule: &mut Map<String, Value>, at: &ConfigPath) -> Result<Matcher, ConfigError> {
    let mut list = |key: &str| -> Result<Vec<String>, ConfigError> {
        let here = at.field(key);
        match rule.remove(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) if !s.trim().is_empty() => Ok(s),
                    _ => Err(here.index(i).error("must be a non-empty string")),
                })
                .collect(),
            Some(_) => Err(here.error("must be an array of strings")),
        }
    };
    let routes = list(MATCH_ROUTE)?;
    let raw_domains = list(MATCH_DOMAIN)?;
    let services = list(MATCH_SERVICE)?;
    let route_prefixes = list(MATCH_ROUTE_PREFIX)?;
    let domains = raw_domains
        .iter()
        .enumerate()
        .map(|(i, d)| DomainPattern::parse(d).map_err(|e| at.field(MATCH_DOMAIN).index(i).error(e)))
        .collect::<Result<Vec<_>, _>>()?;
    if routes.is_empty() && domains.is_empty() && services.is_empty() && route_prefixes.is_empty() {
        return Err(at.error(format!(
            "a rule needs a non-empty {MATCH_ROUTE}, {MATCH_DOMAIN}, {MATCH_SERVICE} or {MATCH_ROUTE_PREFIX}"
        )));
    }
    Ok(Matcher { routes, domains, services, route_prefixes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_patterns_match_like_higress() {
        let p = |s: &str| DomainPattern::parse(s).unwrap();
        assert!(p("*.example.com").matches("api.example.com"));
        assert!(!p("*.example.com").matches("example.com"));
        assert!(p("example.*").matches("example.org"));
        assert!(p("Example.COM").matches("example.com"));
        assert!(p("*").matches("anything"));
        assert!(!p("a.com").matches("b.com"));
        assert!(DomainPattern::parse("a.*.com").is_err());
    }

    #[test]
    fn services_match_by_fqdn_port_or_cluster() {
        let c = Some("outbound|8080||backend.default.svc.cluster.local");
        assert!(service_matches("backend.default.svc.cluster.local", c));
        assert!(service_matches("backend.default.svc.cluster.local:8080", c));
        assert!(!service_matches("backend.default.svc.cluster.local:80", c));
        assert!(service_matches("outbound|8080||backend.default.svc.cluster.local", c));
        assert!(!service_matches("other", c));
        assert!(!service_matches("backend", None));
    }
}
