//! Shared test fixtures: running xtask, scratch directories, and Debian's `docker-registry` as a child
//! process on a free loopback port.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A scratch directory under cargo's test tmpdir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "xtask-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The miniature plugin workspace in tests/fixtures/workspace.
pub fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace")
}

/// Where fixture plugins are built unless a test needs a private target dir.
pub fn shared_fixture_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture-target")
}

/// `xtask` with no registry credentials from the environment and an empty Docker config.
pub fn xtask(docker_config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.env("DOCKER_CONFIG", docker_config)
        .env_remove("XTASK_REGISTRY_USER")
        .env_remove("XTASK_REGISTRY_PASSWORD")
        .env_remove("XTASK_WORKSPACE_ROOT")
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// `xtask` working on the fixture workspace, building into `target`.
pub fn fixture_xtask(docker_config: &Path, target: &Path) -> Command {
    let mut cmd = xtask(docker_config);
    cmd.env("XTASK_WORKSPACE_ROOT", fixture_root()).env("CARGO_TARGET_DIR", target);
    cmd
}

/// Runs a command and returns its output, failing the test (with stderr) if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn command");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// `docker-registry serve` on 127.0.0.1, storage in a scratch dir; killed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`
    pub host: String,
    dir: TempDir,
}

/// How a test registry authenticates clients.
#[derive(Debug)]
pub enum Auth<'a> {
    /// Anyone may push and pull.
    Open,
    /// Basic auth against `user:bcrypt-hash` lines.
    Htpasswd(&'a str),
    /// Bearer tokens: the registry's `silly` auth challenges with `Bearer realm=REALM` and accepts
    /// any token; the token service at `realm` (see [`TokenService`]) checks the credentials.
    Bearer { realm: &'a str },
}

impl Registry {
    /// Starts a registry with the given auth.
    pub fn start(auth: Auth<'_>) -> Registry {
        let dir = TempDir::new("registry");
        let mut last_log = String::new();
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..5 {
            let host = format!("127.0.0.1:{}", free_port());
            // A header only this registry sends, so a neighbour that won the port race is not mistaken for it.
            let id = dir.path().display().to_string();
            let mut config = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n  secret: xtask-test\n  headers:\n    X-Xtask-Registry: [\"{id}\"]\n",
                dir.path().join("data").display()
            );
            match auth {
                Auth::Open => {}
                Auth::Htpasswd(lines) => {
                    let path = dir.path().join("htpasswd");
                    std::fs::write(&path, lines).expect("write htpasswd");
                    config.push_str(&format!(
                        "auth:\n  htpasswd:\n    realm: xtask-test\n    path: {}\n",
                        path.display()
                    ));
                }
                Auth::Bearer { realm } => {
                    config.push_str(&format!("auth:\n  silly:\n    realm: {realm}\n    service: xtask-registry\n"))
                }
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write registry config");
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).expect("create registry log");
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .expect("start docker-registry (apt-get install docker-registry)");
            let mut child = child;
            if wait_ready(&mut child, &host, &id) {
                return Registry { child, host, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("docker-registry did not come up:\n{last_log}");
    }
}

/// Polls `GET /v2/` until it answers (200, or 401 with auth) or the process dies; bounded.
fn wait_ready(child: &mut Child, host: &str, id: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("http://{host}/v2/");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if let Ok(resp) = agent.get(&url).call()
            && matches!(resp.status().as_u16(), 200 | 401)
            && resp.headers().get("X-Xtask-Registry").is_some_and(|v| v.as_bytes() == id.as_bytes())
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `skopeo` with the policy check off (tests pull what they pushed a moment ago).
pub fn skopeo() -> Command {
    let mut cmd = Command::new("skopeo");
    cmd.arg("--insecure-policy");
    cmd
}

/// A token service for bearer auth: answers `GET /token` with a token when the request carries
/// Basic credentials `user:password`, else 401. Records each request line. Stops on drop.
#[derive(Debug)]
pub struct TokenService {
    pub realm: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenService {
    pub fn start(user: &str, password: &str) -> TokenService {
        use base64::Engine;
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind token service");
        let addr = listener.local_addr().expect("token service addr");
        let expected =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, stopped) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                        && value.trim() == expected
                    {
                        authorized = true;
                    }
                }
                seen.lock().expect("requests lock").push(request_line.trim().to_string());
                let (status, body) = if authorized {
                    ("200 OK", r#"{"token":"xtask-test-token","expires_in":300}"#)
                } else {
                    ("401 Unauthorized", r#"{"details":"bad credentials"}"#)
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenService { realm: format!("http://{addr}/token"), requests, stop, thread: Some(thread) }
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let addr = self.realm.trim_start_matches("http://").trim_end_matches("/token").to_string();
        let _ = std::net::TcpStream::connect(addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
