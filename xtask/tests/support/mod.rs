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

impl Registry {
    /// Starts a registry; `htpasswd` holds `user:bcrypt-hash` lines to require Basic auth.
    pub fn start(htpasswd: Option<&str>) -> Registry {
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
            if let Some(lines) = htpasswd {
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, lines).expect("write htpasswd");
                config.push_str(&format!("auth:\n  htpasswd:\n    realm: xtask-test\n    path: {}\n", path.display()));
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
