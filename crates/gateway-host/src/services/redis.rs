//! Redis connections for the Higress Redis host calls: one pipelined connection per worker
//! per endpoint and settings, FIFO replies, AUTH/SELECT on connect, and the op timeout that
//! closes the connection and fails every pending call with status 1.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::Instant;

use crate::values::RedisSettings;
use crate::values::VmEvent;

/// Status values of `proxy_on_redis_call_response`.
pub const STATUS_OK: u32 = 0;
pub const STATUS_NETWORK_ERROR: u32 = 1;

/// One command sent on a connection and where its reply goes.
pub struct Command {
    pub bytes: Vec<u8>,
    pub token: u32,
    pub reply_to: UnboundedSender<VmEvent>,
}

struct Connection {
    tx: UnboundedSender<Command>,
    alive: Rc<Cell<bool>>,
}

/// The Redis connections of one worker, shared by every plugin VM on it.
#[derive(Default)]
pub struct RedisPool {
    connections: RefCell<HashMap<(String, RedisSettings), Connection>>,
}

impl RedisPool {
    /// Queues `command` on the connection to `endpoint`, connecting first when needed.
    /// `Err` when the endpoint cannot be reached (the host call then returns InternalFailure).
    pub fn send(&self, endpoint: &str, settings: &RedisSettings, command: Command) -> Result<(), String> {
        let key = (endpoint.to_string(), settings.clone());
        let mut connections = self.connections.borrow_mut();
        let mut command = command;
        if let Some(conn) = connections.get(&key)
            && conn.alive.get()
        {
            match conn.tx.send(command) {
                Ok(()) => return Ok(()),
                Err(e) => command = e.0,
            }
        }
        connections.remove(&key);
        let conn = connect(endpoint, settings)?;
        conn.tx.send(command).map_err(|_| format!("redis {endpoint}: connection closed at once"))?;
        connections.insert(key, conn);
        Ok(())
    }
}

impl RedisPool {
    /// Closes the connection to `endpoint` made with `settings`, if any: its pending calls fail
    /// with status 1 and the next call with those settings connects again. This is what a
    /// `proxy_redis_init` with a different configuration does on Higress.
    pub fn close(&self, endpoint: &str, settings: &RedisSettings) {
        let closed = self.connections.borrow_mut().remove(&(endpoint.to_string(), settings.clone()));
        // Dropping the sender ends the connection task, which fails what is still pending.
        drop(closed);
    }
}

fn resolve(endpoint: &str) -> Result<SocketAddr, String> {
    endpoint
        .to_socket_addrs()
        .map_err(|e| format!("redis {endpoint}: cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| format!("redis {endpoint}: no address"))
}

/// Connects synchronously (bounded by the op timeout, at most 1 s) so the host call can report
/// an unreachable endpoint with its return code, then hands the socket to a connection task.
fn connect(endpoint: &str, settings: &RedisSettings) -> Result<Connection, String> {
    let addr = resolve(endpoint)?;
    let limit = Duration::from_millis(settings.timeout_ms.clamp(1, 1000) as u64);
    let std_stream = std::net::TcpStream::connect_timeout(&addr, limit)
        .map_err(|e| format!("redis {endpoint}: cannot connect: {e}"))?;
    let _ = std_stream.set_nodelay(true);
    std_stream.set_nonblocking(true).map_err(|e| format!("redis {endpoint}: {e}"))?;
    let stream = TcpStream::from_std(std_stream).map_err(|e| format!("redis {endpoint}: {e}"))?;
    let mut preamble = Vec::new();
    if !settings.password.is_empty() {
        if settings.username.is_empty() {
            preamble.push(resp_codec::encode_command(&[b"AUTH", settings.password.as_bytes()]));
        } else {
            preamble.push(resp_codec::encode_command(&[
                b"AUTH",
                settings.username.as_bytes(),
                settings.password.as_bytes(),
            ]));
        }
    }
    if settings.db != 0 {
        preamble.push(resp_codec::encode_command(&[b"SELECT", settings.db.to_string().as_bytes()]));
    }
    let (tx, rx) = unbounded_channel();
    let alive = Rc::new(Cell::new(true));
    let timeout = Duration::from_millis(settings.timeout_ms.max(1) as u64);
    tokio::task::spawn_local(run(endpoint.to_string(), stream, rx, preamble, timeout, alive.clone()));
    Ok(Connection { tx, alive })
}

/// A pending reply: `None` for AUTH/SELECT, whose replies are dropped (failures show later).
type Pending = Option<(u32, UnboundedSender<VmEvent>)>;

fn fail(p: Pending) {
    if let Some((token, to)) = p {
        let _ = to.send(VmEvent::RedisReply { token, status: STATUS_NETWORK_ERROR, data: Vec::new() });
    }
}

async fn run(
    endpoint: String,
    mut stream: TcpStream,
    mut rx: UnboundedReceiver<Command>,
    preamble: Vec<Vec<u8>>,
    timeout: Duration,
    alive: Rc<Cell<bool>>,
) {
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut deadline = Instant::now() + timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let (mut rd, mut wr) = stream.split();
    let mut outcome: Result<(), String> = Ok(());
    // One timer for the connection: `deadline` moves with every reply, and the timer is only
    // re-armed when it fires early (cheaper than re-arming it per reply).
    let op_timer = tokio::time::sleep_until(deadline);
    tokio::pin!(op_timer);
    // Commands written together: whatever the VMs queued by the time the writer runs.
    let mut batch: Vec<u8> = Vec::with_capacity(4096);
    for p in preamble {
        if let Err(e) = wr.write_all(&p).await {
            outcome = Err(format!("write failed: {e}"));
            break;
        }
        pending.push_back(None);
    }
    while outcome.is_ok() {
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                if pending.is_empty() {
                    deadline = Instant::now() + timeout;
                }
                // Every command queued meanwhile goes in the same write (one syscall, and Redis
                // answers them in one read): FIFO order is the queue's order either way.
                batch.clear();
                let mut next = Some(cmd);
                while let Some(cmd) = next {
                    pending.push_back(Some((cmd.token, cmd.reply_to)));
                    batch.extend_from_slice(&cmd.bytes);
                    next = rx.try_recv().ok();
                }
                if let Err(e) = wr.write_all(&batch).await {
                    outcome = Err(format!("write failed: {e}"));
                }
            }
            n = rd.read(&mut chunk) => {
                match n {
                    Ok(0) => outcome = Err("connection closed by server".to_string()),
                    Err(e) => outcome = Err(format!("read failed: {e}")),
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        loop {
                            match resp_codec::decode(&buf) {
                                Ok(Some((_, end))) => {
                                    let reply: Vec<u8> = buf.drain(..end).collect();
                                    deadline = Instant::now() + timeout;
                                    match pending.pop_front() {
                                        Some(Some((token, to))) => {
                                            let _ = to.send(VmEvent::RedisReply { token, status: STATUS_OK, data: reply });
                                        }
                                        Some(None) => {}
                                        None => {
                                            outcome = Err("reply without a pending command".to_string());
                                            break;
                                        }
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    outcome = Err(format!("protocol error: {e}"));
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            _ = &mut op_timer, if !pending.is_empty() => {
                if Instant::now() < deadline {
                    op_timer.as_mut().reset(deadline);
                } else {
                    outcome = Err(format!("op timeout after {} ms", timeout.as_millis()));
                }
            }
        }
    }
    alive.set(false);
    if let Err(e) = &outcome {
        log::warn!(
            "redis {endpoint}: closing connection ({e}); failing {} pending call(s)",
            pending.iter().filter(|p| p.is_some()).count()
        );
    }
    pending.into_iter().for_each(fail);
    rx.close();
    while let Ok(cmd) = rx.try_recv() {
        fail(Some((cmd.token, cmd.reply_to)));
    }
}
