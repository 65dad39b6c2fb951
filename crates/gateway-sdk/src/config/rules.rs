//! The Higress rule shape: a global configuration plus `_rules_`, each matched by route,
//! domain (with `*` wildcards), service or route-name prefix, as higress-group/wasm-go
//! `pkg/matcher/rule_matcher.go` (d153aa4) matches them. The first matching rule wins, else the
//! global configuration applies, else the plugin is skipped for that request.
//!
//! How a rule's configuration relates to the global one is the plugin's
//! [`ConfigStyle`](super::ConfigStyle): on its own (Higress, [`RuleConfigs::Own`]) or laid over
//! the global object ([`RuleConfigs::OverGlobal`]).
//!
//! Matching, as wasm-go does it (line numbers of rule_matcher.go):
//! - a rule's kind is decided by what it lists (236-247): `_match_route_` (with
//!   `_match_service_` too, both must match), else `_match_domain_`, else `_match_service_`,
//!   else `_match_route_prefix_`; conditions of a lower kind in the same rule are ignored;
//! - a domain starting with `*` matches hosts ending with the rest, one ending with `*` hosts
//!   starting with the rest, anything else exactly (343-362, 381-402); the port is stripped;
//! - a service is `fqdn` or `fqdn:port`, compared with the `cluster_name` property
//!   `outbound|port|subset|fqdn` (404-420);
//! - empty strings in `_match_route_`, `_match_service_` and `_match_route_prefix_` are skipped
//!   (307-341); a rule with no condition at all fails the whole configuration (233-235).
//!
//! Hosts are compared as wasm-go compares them: the `:authority` as sent, case included, with
//! the port removed as `stripPortFromHost` (364-378) removes it.

use super::gjson;
use super::read::ReadContext;
use super::value::{Map, Value};
use super::{ConfigError, ConfigPath, ConfigStyle, ConfigWarning, RuleConfigs};
use crate::plugin::{Plugin, Shared};

const RULES_KEY: &str = "_rules_";
const MATCH_ROUTE: &str = "_match_route_";
const MATCH_DOMAIN: &str = "_match_domain_";
const MATCH_SERVICE: &str = "_match_service_";
const MATCH_ROUTE_PREFIX: &str = "_match_route_prefix_";
/// Higress's plugin id, removed before parsing (wasm-go `PluginIDKey`).
const PLUGIN_ID_KEY: &str = "_plugin_id_";
/// `strict: true` turns warnings into errors (styles with `strict_key`).
const STRICT_KEY: &str = "strict";

/// What a request offers to rule matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInput {
    /// The `route_name` property.
    pub route: Option<String>,
    /// The request host: `:authority` as sent, without its port ([`MatchInput::host_of`]).
    pub host: String,
    /// The `cluster_name` property, e.g. `outbound|80||backend.static`.
    pub cluster: Option<String>,
}

impl MatchInput {
    /// The host wasm-go matches domains against: `authority` without a trailing `:port`
    /// (unless that colon is inside an IPv6 literal's brackets), case kept.
    pub fn host_of(authority: &str) -> String {
        match authority.rfind(':') {
            Some(colon) if authority.rfind(']').is_none_or(|end| end < colon) => authority[..colon].to_string(),
            _ => authority.to_string(),
        }
    }
}

/// A host pattern as wasm-go reads `_match_domain_`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DomainPattern {
    /// `*<suffix>` (`*` alone matches every host).
    Suffix(String),
    /// `<prefix>*`.
    Prefix(String),
    Exact(String),
}

impl DomainPattern {
    fn parse(p: &str) -> Self {
        if let Some(rest) = p.strip_prefix('*') {
            DomainPattern::Suffix(rest.to_string())
        } else if let Some(rest) = p.strip_suffix('*') {
            DomainPattern::Prefix(rest.to_string())
        } else {
            DomainPattern::Exact(p.to_string())
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            DomainPattern::Suffix(s) => host.ends_with(s.as_str()),
            DomainPattern::Prefix(p) => host.starts_with(p.as_str()),
            DomainPattern::Exact(d) => host == *d,
        }
    }
}

/// What a rule matches on (wasm-go's `Category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    #[default]
    Route,
    RouteAndService,
    Host,
    Service,
    RoutePrefix,
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    kind: Kind,
    routes: Vec<String>,
    domains: Vec<DomainPattern>,
    services: Vec<String>,
    route_prefixes: Vec<String>,
}

impl Matcher {
    /// Whether the request described by `input` matches.
    pub fn matches(&self, input: &MatchInput) -> bool {
        let route = input.route.as_deref().unwrap_or_default();
        let route_listed = || self.routes.iter().any(|r| r == route);
        let service_listed = || self.services.iter().any(|s| service_matches(s, input.cluster.as_deref()));
        match self.kind {
            Kind::Route => route_listed(),
            Kind::RouteAndService => route_listed() && service_listed(),
            Kind::Host => self.domains.iter().any(|d| d.matches(&input.host)),
            Kind::Service => service_listed(),
            Kind::RoutePrefix => self.route_prefixes.iter().any(|p| route.starts_with(p.as_str())),
        }
    }

    /// Whether the rule needs the request host.
    fn uses_host(&self) -> bool {
        self.kind == Kind::Host
    }
}

/// `_match_service_` entries name a service `fqdn` or `fqdn:port`; the cluster name must have
/// the four parts `outbound|<port>|<subset>|<fqdn>`.
fn service_matches(pattern: &str, cluster: Option<&str>) -> bool {
    let Some(cluster) = cluster else { return false };
    let parts: Vec<&str> = cluster.split('|').collect();
    let [_, port, _, fqdn] = parts.as_slice() else { return false };
    match pattern.rsplit_once(':') {
        Some((name, p)) if name == *fqdn && p == *port => true,
        _ => pattern == *fqdn,
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
    warnings: Vec<ConfigWarning>,
}

impl<P: Plugin> RuleSet<P> {
    /// Parses, validates and compiles a whole plugin configuration (JSON bytes as Higress
    /// delivers them) in the plugin's [`ConfigStyle`], and logs its warnings. An empty buffer is
    /// treated as `{}`.
    pub fn compile(bytes: &[u8]) -> Result<Self, ConfigError> {
        let set = Self::compile_quietly(bytes)?;
        for w in &set.warnings {
            crate::warn!("{w}");
        }
        Ok(set)
    }

    /// [`RuleSet::compile`] without logging the warnings (see [`RuleSet::warnings`]).
    pub fn compile_quietly(bytes: &[u8]) -> Result<Self, ConfigError> {
        let style = P::CONFIG_STYLE;
        let root = ConfigPath::root(P::NAME);
        let text = std::str::from_utf8(bytes).map_err(|_| root.error("configuration is not UTF-8"))?;
        let value: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            Value::parse(text.as_bytes()).ok_or_else(|| root.error("not valid JSON"))?
        };
        let Value::Object(mut top) = value else {
            return Err(root.error("the configuration must be a JSON object"));
        };
        top.remove(PLUGIN_ID_KEY);
        let strict = style.strict_key && top.remove(STRICT_KEY).is_some_and(|v| gjson::bool(&v));
        let raw_rules = match top.remove(RULES_KEY) {
            None => Vec::new(),
            Some(v @ Value::Array(_)) => gjson::array(v),
            Some(v) if style.rules == RuleConfigs::Own => gjson::array(v),
            Some(_) => return Err(root.field(RULES_KEY).error("must be an array of rules")),
        };
        let mut warnings = Vec::new();
        // wasm-go parses the global object only when it has keys besides `_rules_` (or the
        // whole document is empty), and a failure there only matters without rules (199-213).
        let global = if top.is_empty() && !raw_rules.is_empty() {
            None
        } else {
            match compile_one::<P>(Value::Object(top.clone()), &root, &style, &mut warnings) {
                Ok(p) => Some(p),
                Err(e) if style.tolerate_bad_global && !raw_rules.is_empty() => {
                    warnings.push(ConfigWarning::new(
                        &root,
                        format!(
                            "the global configuration is ignored ({}: {}); only routes a rule matches are served",
                            if e.path.is_empty() { "(top level)" } else { &e.path },
                            e.message
                        ),
                    ));
                    None
                }
                Err(e) => return Err(e),
            }
        };
        let mut rules = Vec::with_capacity(raw_rules.len());
        for (i, raw) in raw_rules.into_iter().enumerate() {
            let at = root.field(RULES_KEY).index(i);
            let Value::Object(mut rule) = raw else {
                return Err(at.error("a rule must be an object"));
            };
            let matcher = take_matcher(&mut rule, &at)?;
            let config = match style.rules {
                RuleConfigs::Own => rule,
                RuleConfigs::OverGlobal => {
                    let mut merged = top.clone();
                    merged.extend(rule);
                    merged
                }
            };
            let plugin = compile_one::<P>(Value::Object(config), &at, &style, &mut warnings)?;
            rules.push(Rule { matcher, plugin });
        }
        if strict {
            if let Some(first) = warnings.into_iter().next() {
                return Err(first.into_error());
            }
            warnings = Vec::new();
        }
        Ok(RuleSet { global, rules, warnings })
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

    /// What the configuration does that Higress accepts but its author may not have meant.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }
}

fn compile_one<P: Plugin>(
    mut value: Value,
    at: &ConfigPath,
    style: &ConfigStyle,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Shared<P>, ConfigError> {
    if let Some(prepare) = style.prepare {
        prepare(&mut value, at, warnings)?;
    }
    let cx = ReadContext::new(style.unknown_keys);
    let config = cx.read::<P::Config>(&value, at);
    warnings.extend(cx.into_warnings());
    P::compile(config?, at).map(Shared::new)
}

/// Removes the `_match_*_` keys from `rule` and reads them as wasm-go does.
fn take_matcher(rule: &mut Map, at: &ConfigPath) -> Result<Matcher, ConfigError> {
    // gjson: `Array()` of a scalar is a list of one; `String()` of each item (307-362).
    let mut list = |key: &str, keep_empty: bool| -> Vec<String> {
        let items = rule.remove(key).map(gjson::array).unwrap_or_default();
        items.iter().map(gjson::string).filter(|s| keep_empty || !s.is_empty()).collect()
    };
    let routes = list(MATCH_ROUTE, false);
    let domains: Vec<DomainPattern> = list(MATCH_DOMAIN, true).iter().map(|d| DomainPattern::parse(d)).collect();
    let services = list(MATCH_SERVICE, false);
    let route_prefixes = list(MATCH_ROUTE_PREFIX, false);
    let kind = match (!routes.is_empty(), !domains.is_empty(), !services.is_empty(), !route_prefixes.is_empty()) {
        (true, _, true, _) => Kind::RouteAndService,
        (true, _, false, _) => Kind::Route,
        (false, true, _, _) => Kind::Host,
        (false, false, true, _) => Kind::Service,
        (false, false, false, true) => Kind::RoutePrefix,
        (false, false, false, false) => {
            return Err(at.error(format!(
                "a rule needs a non-empty {MATCH_ROUTE}, {MATCH_DOMAIN}, {MATCH_SERVICE} or {MATCH_ROUTE_PREFIX}"
            )));
        }
    };
    Ok(Matcher { kind, routes, domains, services, route_prefixes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(rule: Value) -> Matcher {
        let Value::Object(mut rule) = rule else { panic!("not an object") };
        take_matcher(&mut rule, &ConfigPath::root("p")).unwrap()
    }

    fn input(route: Option<&str>, host: &str, cluster: Option<&str>) -> MatchInput {
        MatchInput { route: route.map(String::from), host: host.to_string(), cluster: cluster.map(String::from) }
    }

    /// rule_matcher.go 343-362 and 381-402: `*` starts a suffix, ends a prefix, else exact.
    #[test]
    fn domain_patterns_match_like_wasm_go() {
        let p = DomainPattern::parse;
        assert!(p("*.example.com").matches("api.example.com"));
        assert!(!p("*.example.com").matches("example.com"));
        assert!(p("*example.com").matches("example.com"));
        assert!(p("*example.com").matches("badexample.com"));
        assert!(p("example.*").matches("example.org"));
        assert!(p("*").matches("anything"));
        assert_eq!(p("a.*.com"), DomainPattern::Exact("a.*.com".into()));
        assert_eq!(p("*a*"), DomainPattern::Suffix("a*".into()));
        assert!(!p("a.com").matches("b.com"));
    }

    /// rule_matcher.go 381-402 compares with strings.HasSuffix/HasPrefix/==: case counts.
    #[test]
    fn domains_are_compared_with_their_case() {
        let p = DomainPattern::parse;
        assert!(!p("*.example.com").matches("API.Example.com"));
        assert!(!p("Example.com").matches("example.com"));
        assert!(p("Example.com").matches("Example.com"));
    }

    /// rule_matcher.go 364-378: the port goes unless the last colon is inside `[...]`.
    #[test]
    fn the_port_is_stripped_as_wasm_go_strips_it() {
        assert_eq!(MatchInput::host_of("a.io:8080"), "a.io");
        assert_eq!(MatchInput::host_of("a.io"), "a.io");
        assert_eq!(MatchInput::host_of("[::1]:80"), "[::1]");
        assert_eq!(MatchInput::host_of("[::1]"), "[::1]");
        assert_eq!(MatchInput::host_of("a.io:"), "a.io");
        assert_eq!(MatchInput::host_of("A.IO:1"), "A.IO");
    }

    /// rule_matcher.go 404-420: `fqdn` or `fqdn:port` against `outbound|port|subset|fqdn`.
    #[test]
    fn services_match_by_fqdn_or_fqdn_and_port() {
        let c = Some("outbound|8080||backend.default.svc.cluster.local");
        assert!(service_matches("backend.default.svc.cluster.local", c));
        assert!(service_matches("backend.default.svc.cluster.local:8080", c));
        assert!(!service_matches("backend.default.svc.cluster.local:80", c));
        assert!(!service_matches("outbound|8080||backend.default.svc.cluster.local", c));
        assert!(!service_matches("backend", Some("backend")));
        assert!(!service_matches("backend", None));
    }

    /// rule_matcher.go 236-247 and 159-166: route beats domain; route plus service needs both.
    #[test]
    fn a_rule_matches_on_its_highest_kind_only() {
        let m = matcher(crate::config_json!({"_match_route_": ["r"], "_match_domain_": ["*"]}));
        assert!(m.matches(&input(Some("r"), "x.io", None)));
        assert!(!m.matches(&input(Some("other"), "x.io", None)), "the domain is ignored next to a route");
        let m = matcher(crate::config_json!({"_match_route_": ["r"], "_match_service_": ["svc.dns"]}));
        assert!(m.matches(&input(Some("r"), "x.io", Some("outbound|80||svc.dns"))));
        assert!(!m.matches(&input(Some("r"), "x.io", Some("outbound|80||other.dns"))));
        assert!(!m.matches(&input(Some("s"), "x.io", Some("outbound|80||svc.dns"))));
        let m = matcher(crate::config_json!({"_match_domain_": ["a.io"], "_match_service_": ["svc.dns"]}));
        assert!(m.matches(&input(None, "a.io", None)), "domain beats service");
        assert!(!m.matches(&input(None, "b.io", Some("outbound|80||svc.dns"))));
    }

    /// rule_matcher.go 307-341: empty route, service and prefix names are skipped.
    #[test]
    fn empty_names_are_skipped_and_scalars_are_lists_of_one() {
        let m = matcher(crate::config_json!({"_match_route_": ["", "r"], "_match_service_": [""]}));
        assert_eq!(m.kind, Kind::Route);
        let m = matcher(crate::config_json!({"_match_route_": "r"}));
        assert!(m.matches(&input(Some("r"), "", None)));
        let Value::Object(mut rule) = crate::config_json!({"_match_route_": [""]}) else { unreachable!() };
        assert!(take_matcher(&mut rule, &ConfigPath::root("p")).is_err());
    }
}
