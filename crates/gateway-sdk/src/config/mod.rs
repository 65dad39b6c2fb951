//! Plugin configuration: errors that name the field path, secrets that never print, and the
//! Higress `_rules_` shape (see [`rules`]). How a plugin's configuration is read (Higress's rule
//! semantics and tolerance of unknown keys, or our stricter layered reading) is its
//! [`ConfigStyle`].

pub mod gjson;
mod read;
pub mod rules;
pub mod unknown;
pub mod value;
pub mod wasm_plugin;

use std::fmt;

pub use read::{ConfigNode, Fields, FromConfig, ReadContext, read_at};
pub use value::{Map, Number, Value};

/// A configuration that was rejected at configure time.
///
/// Displays as `cluster-rate-limit: invalid config at _rules_[1].limit_keys[0]: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The plugin's name.
    pub plugin: String,
    /// Where in the configuration the problem is (empty for the whole document).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plugin = if self.plugin.is_empty() { "plugin" } else { &self.plugin };
        if self.path.is_empty() {
            write!(f, "{plugin}: invalid config: {}", self.message)
        } else {
            write!(f, "{plugin}: invalid config at {}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Something a configuration does that Higress accepts but that is probably not what its author
/// meant (an unknown key, a global configuration that does not parse next to rules that do).
/// Logged at `warn` once per configuration; with `strict: true` it is a [`ConfigError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The plugin's name.
    pub plugin: String,
    /// Where in the configuration (empty for the whole document).
    pub path: String,
    /// What was accepted and how it is read.
    pub message: String,
}

impl ConfigWarning {
    /// A warning at `at`.
    pub fn new(at: &ConfigPath, message: impl fmt::Display) -> Self {
        ConfigWarning { plugin: at.plugin.clone(), path: at.path.clone(), message: message.to_string() }
    }

    /// The same finding as an error (for `strict: true`).
    pub fn into_error(self) -> ConfigError {
        ConfigError { plugin: self.plugin, path: self.path, message: format!("{} (strict: true)", self.message) }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plugin = if self.plugin.is_empty() { "plugin" } else { &self.plugin };
        if self.path.is_empty() {
            write!(f, "{plugin}: config: {}", self.message)
        } else {
            write!(f, "{plugin}: config at {}: {}", self.path, self.message)
        }
    }
}

/// A plugin's own rewrite of one configuration object (the global one or one rule) before its
/// [`FromConfig`] types read it: where a plugin turns Higress's loosely typed values into typed
/// ones (see [`gjson`]). It may add warnings.
pub type Prepare = fn(&mut Value, &ConfigPath, &mut Vec<ConfigWarning>) -> Result<(), ConfigError>;

/// How a `_rules_` entry relates to the global configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleConfigs {
    /// Each rule is a configuration of its own, as wasm-go parses it for plugins without an
    /// override parser (`parsePluginConfig(ruleJson)`): nothing is inherited from the global one.
    Own,
    /// A rule's top-level keys are laid over the global configuration (so a `redis` block given
    /// once serves every rule). Our own extension, for plugins that choose it.
    OverGlobal,
}

/// What a key the plugin's [`FromConfig`] types do not know does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownKeys {
    /// It is ignored with a [`ConfigWarning`] naming the path and the closest known key, as
    /// Higress's Go plugins ignore it (`strict: true` makes it an error).
    Warn,
    /// It is an error (`unknown field `x`, expected one of ...`).
    Reject,
}

/// How the SDK reads a plugin's configuration: [`Plugin::CONFIG_STYLE`](crate::plugin::Plugin::CONFIG_STYLE).
#[derive(Debug, Clone, Copy)]
pub struct ConfigStyle {
    /// Rules on their own or over the global configuration.
    pub rules: RuleConfigs,
    /// Unknown keys warned about or rejected.
    pub unknown_keys: UnknownKeys,
    /// Whether a global configuration that does not parse is tolerated when `_rules_` exist
    /// (wasm-go `ParseRuleConfig`: only routes a rule matches are then served; a warning names
    /// the error). Without it such a document is rejected.
    pub tolerate_bad_global: bool,
    /// Whether the top-level key `strict` is read (and removed) by the SDK: `strict: true`
    /// turns every [`ConfigWarning`] into an error.
    pub strict_key: bool,
    /// The plugin's rewrite of each configuration object before its types read it.
    pub prepare: Option<Prepare>,
}

impl ConfigStyle {
    /// Higress's semantics (higress-group/wasm-go `pkg/matcher/rule_matcher.go`): rules on
    /// their own, a bad global configuration tolerated next to rules, unknown keys ignored with
    /// a warning, `strict: true` available.
    pub const HIGRESS: ConfigStyle = ConfigStyle {
        rules: RuleConfigs::Own,
        unknown_keys: UnknownKeys::Warn,
        tolerate_bad_global: true,
        strict_key: true,
        prepare: None,
    };

    /// Rules laid over the global configuration, unknown keys rejected, every part must parse:
    /// an explicit opt-in for plugins of our own whose rules are meant to override a few
    /// fields (cookie-cache). Higress's Go plugins never read rules this way.
    pub const LAYERED: ConfigStyle = ConfigStyle {
        rules: RuleConfigs::OverGlobal,
        unknown_keys: UnknownKeys::Reject,
        tolerate_bad_global: false,
        strict_key: false,
        prepare: None,
    };

    /// This style with `prepare` run on each configuration object before its types read it.
    pub const fn prepared_by(self, prepare: Prepare) -> ConfigStyle {
        ConfigStyle { prepare: Some(prepare), ..self }
    }

    /// This style with rules laid over the global configuration (an explicit opt-in).
    pub const fn rules_over_global(self) -> ConfigStyle {
        ConfigStyle { rules: RuleConfigs::OverGlobal, ..self }
    }
}

/// A position in the configuration document, used to build [`ConfigError`]s.
///
/// ```
/// # use gateway_sdk::config::ConfigPath;
/// let at = ConfigPath::root("my-plugin").field("_rules_").index(1);
/// let err = at.field("limit_keys").index(0).error("not a valid regexp");
/// assert_eq!(err.to_string(), "my-plugin: invalid config at _rules_[1].limit_keys[0]: not a valid regexp");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPath {
    plugin: String,
    path: String,
}

impl ConfigPath {
    /// The root of plugin `plugin`'s configuration.
    pub fn root(plugin: &str) -> Self {
        ConfigPath { plugin: plugin.to_string(), path: String::new() }
    }

    /// The member `name` of the object here.
    pub fn field(&self, name: &str) -> Self {
        let path = if self.path.is_empty() { name.to_string() } else { format!("{}.{name}", self.path) };
        ConfigPath { plugin: self.plugin.clone(), path }
    }

    /// The element `i` of the array here.
    pub fn index(&self, i: usize) -> Self {
        ConfigPath { plugin: self.plugin.clone(), path: format!("{}[{i}]", self.path) }
    }

    /// The path as text (`_rules_[1].limit_keys[0]`).
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// An error at this path.
    pub fn error(&self, message: impl fmt::Display) -> ConfigError {
        ConfigError { plugin: self.plugin.clone(), path: self.path.clone(), message: message.to_string() }
    }
}

/// A secret (a password, a token): read from a string, never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for sending it where it belongs. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::config_struct! {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Sample {
            items: Vec<Item>,
        }
    }

    crate::config_struct! {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Item {
            limit: u32,
        }
    }

    #[test]
    fn errors_name_the_full_field_path() {
        let at = ConfigPath::root("p").field("_rules_").index(2);
        let value = crate::config_json!({"items": [{"limit": 1}, {"limit": "x"}]});
        let err = read_at::<Sample>(&value, &at).unwrap_err();
        assert_eq!(err.path, "_rules_[2].items[1].limit");
        assert!(err.to_string().starts_with("p: invalid config at _rules_[2].items[1].limit: "));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err =
            read_at::<Sample>(&crate::config_json!({"items": [], "itmes": 1}), &ConfigPath::root("p")).unwrap_err();
        assert!(err.message.contains("itmes"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s: Secret = read_at(&crate::config_json!("hunter2"), &ConfigPath::root("p")).unwrap();
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
