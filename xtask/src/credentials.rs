//! Registry credentials: `XTASK_REGISTRY_USER`/`XTASK_REGISTRY_PASSWORD`, else the Docker config file's
//! `auths` (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

pub const USER_VAR: &str = "XTASK_REGISTRY_USER";
pub const PASSWORD_VAR: &str = "XTASK_REGISTRY_PASSWORD";

#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// Where they came from, for error messages.
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} from {}, password hidden)", self.user, self.source)
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic ...` header.
    pub fn basic(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.user, self.password)))
    }
}

/// Credentials for `registry` (a `host[:port]`), or None to go anonymous.
pub fn lookup(registry: &str) -> Result<Option<Credentials>> {
    match (std::env::var(USER_VAR).ok(), std::env::var(PASSWORD_VAR).ok()) {
        (Some(user), Some(password)) => {
            return Ok(Some(Credentials { user, password, source: format!("{USER_VAR}/{PASSWORD_VAR}") }));
        }
        (Some(_), None) | (None, Some(_)) => {
            bail!("set both {USER_VAR} and {PASSWORD_VAR}, or neither")
        }
        (None, None) => {}
    }
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let config: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    from_docker_config(&config, registry, &path.display().to_string())
}

fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// Docker Hub is stored under several names.
fn aliases(registry: &str) -> Vec<&str> {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            vec!["docker.io", "index.docker.io", "registry-1.docker.io"]
        }
        other => vec![other],
    }
}

/// Finds `registry` among `auths` keys, which may carry a scheme and a path (`https://host/v1/`).
fn from_docker_config(config: &Value, registry: &str, source: &str) -> Result<Option<Credentials>> {
    let Some(auths) = config["auths"].as_object() else {
        return Ok(None);
    };
    let wanted = aliases(registry);
    for (key, entry) in auths {
        let host =
            key.trim_start_matches("https://").trim_start_matches("http://").split('/').next().unwrap_or_default();
        if !wanted.contains(&host) {
            continue;
        }
        let source = format!("{source} auths[{key:?}]");
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let decoded = STANDARD
                .decode(auth)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .with_context(|| format!("{source}: `auth` is not base64 of user:password"))?;
            let Some((user, password)) = decoded.split_once(':') else {
                bail!("{source}: `auth` is not base64 of user:password");
            };
            return Ok(Some(Credentials { user: user.to_string(), password: password.to_string(), source }));
        }
        if let (Some(user), Some(password)) = (entry["username"].as_str(), entry["password"].as_str()) {
            return Ok(Some(Credentials { user: user.to_string(), password: password.to_string(), source }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auth_entries_keyed_by_host_or_url() -> Result<()> {
        let config = serde_json::json!({
            "auths": {
                "https://index.docker.io/v1/": {"auth": STANDARD.encode("hub:s3cret")},
                "127.0.0.1:5000": {"auth": STANDARD.encode("alice:pa:ss")},
                "other.example": {"username": "bob", "password": "pw"}
            }
        });
        let hub = from_docker_config(&config, "docker.io", "cfg")?.context("hub")?;
        assert_eq!((hub.user.as_str(), hub.password.as_str()), ("hub", "s3cret"));
        let local = from_docker_config(&config, "127.0.0.1:5000", "cfg")?.context("local")?;
        assert_eq!((local.user.as_str(), local.password.as_str()), ("alice", "pa:ss"));
        let other = from_docker_config(&config, "other.example", "cfg")?.context("other")?;
        assert_eq!(other.user, "bob");
        assert!(from_docker_config(&config, "127.0.0.1:5001", "cfg")?.is_none());
        assert!(!format!("{local:?}").contains("pa:ss"));
        Ok(())
    }
}
