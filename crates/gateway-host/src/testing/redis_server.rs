//! A real `redis-server` on a free loopback port, run as a direct child and killed by pid,
//! plus a minimal synchronous client to inspect it from tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};

use resp_codec::Frame;

use super::wait::{free_port, wait_for};

/// A running `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    password: Option<String>,
    child: Option<Child>,
    /// Extra `redis-server` arguments.
    args: Vec<String>,
}

/// A decoded reply, bulk strings as (lossy) text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisValue {
    Nil,
    Int(i64),
    Status(String),
    Error(String),
    Bulk(String),
    Array(Vec<RedisValue>),
}

impl RedisServer {
    /// Starts `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no` on a free port
    /// and waits until it answers PING.
    pub fn start() -> anyhow::Result<RedisServer> {
        Self::start_inner(free_port(), None)
    }

    /// Like `start`, with `--requirepass`.
    pub fn start_with_password(password: &str) -> anyhow::Result<RedisServer> {
        Self::start_inner(free_port(), Some(password.to_string()))
    }

    /// Like `start`, with extra `redis-server` arguments (e.g. `["--cluster-enabled", "yes"]`).
    pub fn start_with_args(args: &[&str]) -> anyhow::Result<RedisServer> {
        let mut last = None;
        for _ in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                password: None,
                child: None,
                args: args.iter().map(|a| a.to_string()).collect(),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("redis-server did not start")))
    }

    fn start_inner(port: u16, password: Option<String>) -> anyhow::Result<RedisServer> {
        // A port that was free a moment ago may be taken by now (tests run in parallel):
        // retry on another one when our server does not come up on it.
        let mut port = port;
        let mut last = None;
        for _ in 0..5 {
            let mut server = RedisServer { port, password: password.clone(), child: None, args: Vec::new() };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
            port = free_port();
        }
        Err(last.unwrap_or_else(|| anyhow!("redis-server did not start")))
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        // Its own working directory: a replica's sync writes dump.rdb there, never into the
        // crate that runs the test.
        let dir = std::env::temp_dir().join(format!("redis-test-{}-{}", std::process::id(), self.port));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        cmd.arg("--dir").arg(&dir);
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        cmd.args(&self.args);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (is it installed? apt-get install redis-server)")?;
        let pid = child.id();
        self.child = Some(child);
        // Ready when PING answers and the server on the port is our child (not another
        // test's server that got the same port).
        let ready = wait_for(Duration::from_secs(10), || {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                return Some(false);
            }
            match self.command(&["INFO", "server"]) {
                Ok(RedisValue::Bulk(info)) => info.contains(&format!("process_id:{pid}\r")).then_some(true),
                _ => None,
            }
        });
        if ready != Some(true) {
            self.stop();
            bail!("redis-server on port {} did not come up", self.port);
        }
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (by pid) and reaps it. The port stays reserved for `restart`.
    /// Whether the server process is still running (not stopped or dead).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    /// Runs one command on a fresh connection (authenticating when a password is set).
    pub fn command(&self, args: &[&str]) -> anyhow::Result<RedisValue> {
        let mut stream = TcpStream::connect(self.addr())?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        if let Some(p) = &self.password {
            round_trip(&mut stream, &[b"AUTH", p.as_bytes()])?;
        }
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        round_trip(&mut stream, &args)
    }

    /// Runs one command with binary arguments on a fresh connection and returns the reply's
    /// raw RESP2 frame, for callers that decode replies with their own codec.
    pub fn command_frame(&self, args: &[&[u8]]) -> anyhow::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(self.addr())?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        if let Some(p) = &self.password {
            round_trip(&mut stream, &[b"AUTH", p.as_bytes()])?;
        }
        read_frame(&mut stream, args)
    }

    /// Calls per command so far, from `INFO commandstats` (e.g. `"evalsha" -> 12`; commands
    /// that Lua scripts run are counted too, under their own names).
    /// Commands Redis received, by name: executed calls plus calls it rejected before running
    /// them (`NOAUTH`, `READONLY`, `MOVED`, ...), from `INFO commandstats`.
    pub fn commands_received(&self) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
        self.commandstats_fields(&["calls=", "rejected_calls="])
    }

    /// Executed calls per command, from `INFO commandstats`.
    pub fn commandstats(&self) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
        self.commandstats_fields(&["calls="])
    }

    /// The sum of `fields` (e.g. `calls=`) per command in `INFO commandstats`.
    fn commandstats_fields(&self, fields: &[&str]) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
        let RedisValue::Bulk(text) = self.command(&["INFO", "commandstats"])? else {
            bail!("INFO commandstats: not a bulk string");
        };
        Ok(text
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let value = |f: &str| rest.split(',').find_map(|kv| kv.strip_prefix(f)?.parse::<u64>().ok());
                Some((name.to_string(), fields.iter().map(|f| value(f).unwrap_or(0)).sum()))
            })
            .collect())
    }

    /// `GET key` as an integer (`None` when missing).
    pub fn get_int(&self, key: &str) -> anyhow::Result<Option<i64>> {
        match self.command(&["GET", key])? {
            RedisValue::Nil => Ok(None),
            RedisValue::Bulk(s) => Ok(Some(s.parse()?)),
            other => Err(anyhow!("GET {key}: unexpected {other:?}")),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn round_trip(stream: &mut TcpStream, args: &[&[u8]]) -> anyhow::Result<RedisValue> {
    let frame = read_frame(stream, args)?;
    Ok(RedisValue::from(resp_codec::decode_exact(&frame)?))
}

/// Sends one command and reads exactly one reply frame.
fn read_frame(stream: &mut TcpStream, args: &[&[u8]]) -> anyhow::Result<Vec<u8>> {
    stream.write_all(&resp_codec::encode_command(args))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((_, end)) = resp_codec::decode(&buf)? {
            buf.truncate(end);
            return Ok(buf);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("redis closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl From<Frame> for RedisValue {
    /// RESP3-only types map onto the RESP2 shapes a test compares with: booleans as 0/1,
    /// doubles and big numbers as their text, maps as flat key/value arrays.
    fn from(frame: Frame) -> Self {
        match frame {
            Frame::Nil => RedisValue::Nil,
            Frame::Int(i) => RedisValue::Int(i),
            Frame::Boolean(b) => RedisValue::Int(i64::from(b)),
            Frame::Status(s) => RedisValue::Status(s),
            Frame::Error(e) => RedisValue::Error(e),
            Frame::Bulk(b) => RedisValue::Bulk(String::from_utf8_lossy(&b).into_owned()),
            Frame::Double(d) => RedisValue::Bulk(d),
            Frame::BigNumber(n) => RedisValue::Bulk(n),
            Frame::Array(items) => RedisValue::Array(items.into_iter().map(RedisValue::from).collect()),
            Frame::Map(pairs) => RedisValue::Array(
                pairs.into_iter().flat_map(|(k, v)| [RedisValue::from(k), RedisValue::from(v)]).collect(),
            ),
        }
    }
}
