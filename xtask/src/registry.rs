//! A client for the OCI distribution API: image references, the `/v2/` ping, Basic and Bearer-token
//! auth, blob existence checks, monolithic blob uploads and manifest PUTs.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use ureq::http::{Request, Response};

use crate::credentials::{self, Credentials};
use crate::oci::{self, Blob};

/// `REGISTRY/REPOSITORY[:TAG][@DIGEST]`, with an optional `oci://` prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference> {
        let bad = |why: &str| {
            anyhow::anyhow!("`{text}` is not an image reference: {why} (expected REGISTRY/REPOSITORY[:TAG])")
        };
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) if d.starts_with("sha256:") && d.len() == 71 => (r, Some(d.to_string())),
            Some(_) => return Err(bad("the digest must be sha256:<64 hex digits>")),
            None => (rest, None),
        };
        let Some((registry, path)) = rest.split_once('/') else {
            return Err(bad("no registry host"));
        };
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(bad("the first part must be a registry host such as localhost:5000"));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (path, None),
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            });
        if !valid_repo {
            return Err(bad("repository names use lowercase letters, digits, `.`, `_`, `-` and `/`"));
        }
        if let Some(tag) = &tag {
            crate::package::check_tag(tag)?;
        }
        Ok(Reference { registry: registry.to_string(), repository: repository.to_string(), tag, digest })
    }

    /// The host the API lives on (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        match self.registry.as_str() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        }
    }

    /// `REGISTRY/REPOSITORY` (for the `@digest` form).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// True for `localhost`, 127.0.0.0/8 and ::1, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else if host.matches(':').count() == 1 {
        host.split(':').next().unwrap_or_default()
    } else {
        host
    };
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A `WWW-Authenticate` challenge: scheme (lowercased) and its parameters.
#[derive(Debug, PartialEq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn parse(header: &str) -> Challenge {
        let header = header.trim();
        let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            let Some((key, after)) = rest.split_once('=') else {
                break;
            };
            let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next().map(|(_, c)| c)),
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.push((key.trim().to_ascii_lowercase(), value));
            rest = after;
        }
        Challenge { scheme: scheme.to_ascii_lowercase(), params }
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Percent-encodes a query parameter value.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A session with one repository of one registry.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    host: String,
    repository: String,
    credentials: Option<Credentials>,
    authorization: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Client({}/{})", self.base, self.repository)
    }
}

impl Client {
    /// Pings `/v2/` and negotiates auth. `insecure` means plain HTTP, allowed on loopback only.
    pub fn connect(reference: &Reference, insecure: bool) -> Result<Client> {
        let host = reference.api_host().to_string();
        if insecure && !is_loopback(&host) {
            bail!("--insecure (plain HTTP) is only allowed for loopback registries, not {host}");
        }
        let scheme = if insecure { "http" } else { "https" };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let mut client = Client {
            agent,
            base: format!("{scheme}://{host}"),
            host: host.clone(),
            repository: reference.repository.clone(),
            credentials: credentials::lookup(&reference.registry)?,
            authorization: None,
        };
        let url = format!("{}/v2/", client.base);
        let mut response = client.request("GET", &url, &[], None)?;
        if response.status() != 200 {
            return Err(client.unexpected(&mut response, "GET /v2/"));
        }
        Ok(client)
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response<ureq::Body>> {
        let mut builder = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(auth) = &self.authorization {
            builder = builder.header("Authorization", auth.as_str());
        }
        let sent = match body {
            Some(bytes) => self.agent.run(builder.body(bytes)?),
            None => self.agent.run(builder.body(())?),
        };
        sent.map_err(|e| anyhow::anyhow!("cannot reach registry {} ({method} {url}): {e}", self.host))
    }

    /// Sends a request; on 401 answers the registry's challenge once and retries.
    fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response<ureq::Body>> {
        let response = self.send(method, url, headers, body)?;
        if response.status() != 401 {
            return Ok(response);
        }
        let retried_before = self.authorization.is_some();
        let Some(challenge) = response.headers().get("WWW-Authenticate").and_then(|v| v.to_str().ok()) else {
            bail!("registry {} answered 401 to {method} {url} without a WWW-Authenticate challenge", self.host);
        };
        if retried_before && !challenge.to_ascii_lowercase().starts_with("bearer") {
            return Err(self.refused());
        }
        let challenge = Challenge::parse(challenge);
        self.authenticate(&challenge)?;
        let response = self.send(method, url, headers, body)?;
        if response.status() == 401 {
            return Err(self.refused());
        }
        Ok(response)
    }

    fn authenticate(&mut self, challenge: &Challenge) -> Result<()> {
        match challenge.scheme.as_str() {
            "basic" => {
                let Some(creds) = &self.credentials else {
                    return Err(self.needs_credentials());
                };
                self.authorization = Some(creds.basic());
                Ok(())
            }
            "bearer" => {
                let realm = challenge
                    .param("realm")
                    .with_context(|| format!("registry {}: bearer challenge without a realm", self.host))?;
                let mut url = format!("{realm}?");
                if let Some(service) = challenge.param("service") {
                    url.push_str(&format!("service={}&", query_escape(service)));
                }
                let ours = format!("repository:{}:pull,push", self.repository);
                url.push_str(&format!("scope={}", query_escape(&ours)));
                if let Some(scope) = challenge.param("scope").filter(|s| *s != ours) {
                    url.push_str(&format!("&scope={}", query_escape(scope)));
                }
                let mut builder = Request::builder().method("GET").uri(&url);
                if let Some(creds) = &self.credentials {
                    builder = builder.header("Authorization", creds.basic());
                }
                let mut response = self.agent.run(builder.body(())?).map_err(|e| {
                    anyhow::anyhow!("cannot reach the token service {realm} of registry {}: {e}", self.host)
                })?;
                match response.status().as_u16() {
                    200 => {}
                    401 | 403 if self.credentials.is_some() => return Err(self.refused()),
                    401 | 403 => return Err(self.needs_credentials()),
                    status => bail!("token service {realm} of registry {} answered HTTP {status}", self.host),
                }
                let body: Value = serde_json::from_str(&response.body_mut().read_to_string()?)
                    .with_context(|| format!("token service {realm} answered something other than JSON"))?;
                let token = body["token"]
                    .as_str()
                    .or(body["access_token"].as_str())
                    .with_context(|| format!("token service {realm} answered without a token"))?;
                self.authorization = Some(format!("Bearer {token}"));
                Ok(())
            }
            other => bail!("registry {} asks for unsupported auth scheme `{other}`", self.host),
        }
    }

    fn needs_credentials(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "registry {} requires authentication: set {} and {}, or log in with `docker login {}` (~/.docker/config.json)",
            self.host,
            credentials::USER_VAR,
            credentials::PASSWORD_VAR,
            self.host
        )
    }

    fn refused(&self) -> anyhow::Error {
        match &self.credentials {
            Some(c) => anyhow::anyhow!(
                "registry {} refused the credentials of user `{}` (from {}): HTTP 401 unauthorized",
                self.host,
                c.user,
                c.source
            ),
            None => self.needs_credentials(),
        }
    }

    /// An error for an unexpected answer, with the registry's own error codes when it sent them.
    fn unexpected(&self, response: &mut Response<ureq::Body>, what: &str) -> anyhow::Error {
        let status = response.status();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        let details = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["errors"].as_array().cloned())
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e["code"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_else(|| body.trim().chars().take(300).collect());
        anyhow::anyhow!("registry {} answered HTTP {status} to {what}: {details}", self.host)
    }

    fn repo_url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repository)
    }

    pub fn blob_exists(&mut self, digest: &str) -> Result<bool> {
        let url = self.repo_url(&format!("blobs/{digest}"));
        let mut response = self.request("HEAD", &url, &[], None)?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.unexpected(&mut response, &format!("HEAD blob {digest}"))),
        }
    }

    /// POST to open an upload session, then one PUT with the whole blob.
    pub fn upload_blob(&mut self, blob: &Blob) -> Result<()> {
        let url = self.repo_url("blobs/uploads/");
        let mut response = self.request("POST", &url, &[("Content-Length", "0")], Some(&[]))?;
        if response.status() != 202 {
            return Err(self.unexpected(&mut response, "POST blobs/uploads/"));
        }
        let location = response
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("registry {} opened an upload without a Location", self.host))?;
        let mut put = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={}", query_escape(&blob.digest)));
        let mut response =
            self.request("PUT", &put, &[("Content-Type", "application/octet-stream")], Some(&blob.bytes))?;
        if response.status() != 201 {
            return Err(self.unexpected(&mut response, &format!("PUT blob {}", blob.digest)));
        }
        Ok(())
    }

    /// PUTs the manifest under `tag`; returns the digest the registry stored it under.
    pub fn put_manifest(&mut self, tag: &str, manifest: &Blob) -> Result<String> {
        let url = self.repo_url(&format!("manifests/{tag}"));
        let mut response =
            self.request("PUT", &url, &[("Content-Type", manifest.media_type.as_str())], Some(&manifest.bytes))?;
        if response.status() != 201 {
            return Err(self.unexpected(&mut response, &format!("PUT manifest {tag}")));
        }
        let digest = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(&manifest.digest)
            .to_string();
        Ok(digest)
    }

    /// The digest of the manifest tagged `tag`.
    pub fn manifest_digest(&mut self, tag: &str) -> Result<String> {
        let url = self.repo_url(&format!("manifests/{tag}"));
        let accept = [
            oci::MANIFEST_MEDIA_TYPE,
            oci::INDEX_MEDIA_TYPE,
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
        .join(", ");
        let mut response = self.request("HEAD", &url, &[("Accept", accept.as_str())], None)?;
        if response.status() != 200 {
            return Err(self.unexpected(&mut response, &format!("HEAD manifest {tag}")));
        }
        response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .with_context(|| format!("registry {} gave no Docker-Content-Digest for {tag}", self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_with_tags_digests_and_ports() -> Result<()> {
        let r = Reference::parse("127.0.0.1:5000/plugins/token-limit:1.2.0")?;
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "plugins/token-limit");
        assert_eq!(r.tag.as_deref(), Some("1.2.0"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("oci://localhost:5000/hello-redis@{digest}"))?;
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(digest.as_str())));
        assert_eq!(Reference::parse("docker.io/me/x")?.api_host(), "registry-1.docker.io");
        assert!(Reference::parse("hello-redis:1").is_err());
        assert!(Reference::parse("localhost:5000/Upper").is_err());
        assert!(Reference::parse("localhost:5000/x@sha256:short").is_err());
        Ok(())
    }

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("registry.example"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let c = Challenge::parse(r#"Basic realm="say \"hi\"", charset=UTF-8"#);
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("realm"), Some(r#"say "hi""#));
        assert_eq!(c.param("charset"), Some("UTF-8"));
    }

    #[test]
    fn only_loopback_hosts_count_as_loopback() {
        for host in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.9.9.9", "[::1]:5000", "::1"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1:5000", "registry.example", "[2001:db8::1]:443"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn escapes_query_values() {
        assert_eq!(query_escape("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
