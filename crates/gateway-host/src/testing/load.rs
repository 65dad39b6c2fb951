//! A closed-loop HTTP/1.1 load generator for benchmarks: keep-alive connections, each sending
//! the next request as soon as the previous response is read; latency percentiles.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl LoadReport {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `GET path` over `connections` keep-alive connections for `duration`. Responses must
/// have status `expect_status`; others count as errors.
pub fn run(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
    expect_status: u16,
) -> anyhow::Result<LoadReport> {
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let path = path.to_string();
            std::thread::spawn(move || connection_loop(addr, &path, deadline, expect_status))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().map_err(|_| anyhow!("load thread panicked"))??;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i.min(latencies.len() - 1)]
    };
    Ok(LoadReport { requests: latencies.len() as u64, errors, elapsed, p50: pct(0.50), p99: pct(0.99) })
}

fn connection_loop(
    addr: SocketAddr,
    path: &str,
    deadline: Instant,
    expect_status: u16,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n");
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut conn: Option<BufReader<TcpStream>> = None;
    while Instant::now() < deadline {
        if conn.is_none() {
            let s = TcpStream::connect(addr).context("connecting")?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            conn = Some(BufReader::new(s));
        }
        let Some(c) = conn.as_mut() else { continue };
        let t = Instant::now();
        let result =
            c.get_mut().write_all(request.as_bytes()).map_err(anyhow::Error::from).and_then(|_| read_response(c));
        match result {
            Ok((status, keep)) => {
                if status == expect_status {
                    latencies.push(t.elapsed());
                } else {
                    errors += 1;
                }
                if !keep {
                    conn = None;
                }
            }
            Err(_) => {
                errors += 1;
                conn = None;
            }
        }
    }
    Ok((latencies, errors))
}

/// Reads one response (content-length or chunked); returns the status and whether the
/// connection stays open.
fn read_response(c: &mut BufReader<TcpStream>) -> anyhow::Result<(u16, bool)> {
    let mut line = String::new();
    c.read_line(&mut line)?;
    let status: u16 = line.split(' ').nth(1).ok_or_else(|| anyhow!("bad status line {line:?}"))?.parse()?;
    let mut length = 0usize;
    let mut chunked = false;
    let mut keep = true;
    loop {
        line.clear();
        c.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse()?,
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => keep = !v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    if chunked {
        loop {
            line.clear();
            c.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)?;
            let mut skip = vec![0u8; size + 2];
            c.read_exact(&mut skip)?;
            if size == 0 {
                break;
            }
        }
    } else {
        let mut body = vec![0u8; length];
        c.read_exact(&mut body)?;
    }
    if status == 0 {
        bail!("no status");
    }
    Ok((status, keep))
}
