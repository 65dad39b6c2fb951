//! Counting what Redis runs for `cargo xtask bench`: `INFO commandstats` counts every command,
//! those run by Lua scripts included; `MONITOR` tells commands a client sent (round trips) from
//! commands a script ran. The benchmark's own `INFO` and `MONITOR` are never counted.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use resp_codec::Frame;

/// Calls by command name (lower case, e.g. `evalsha`, `script|load`).
pub(super) type Counts = BTreeMap<String, u64>;

/// Commands seen by `MONITOR`, by who ran them.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Split {
    /// Sent by a client: one round trip each.
    pub(super) sent: Counts,
    /// Run by a script (`redis.call` inside `EVAL`/`EVALSHA`).
    pub(super) scripted: Counts,
}

impl Split {
    pub(super) fn total(&self) -> u64 {
        self.sent.values().chain(self.scripted.values()).sum()
    }

    /// What ran between `before` and `self`.
    pub(super) fn since(&self, before: &Split) -> Split {
        Split { sent: command_diff(&before.sent, &self.sent), scripted: command_diff(&before.scripted, &self.scripted) }
    }
}

/// A `MONITOR` connection read by a background thread, and `INFO commandstats` on demand.
pub(super) struct RedisCounter {
    port: u16,
    monitored: Arc<Mutex<Split>>,
    /// The `MONITOR` connection, to close it before the timed rows.
    monitor: TcpStream,
}

impl RedisCounter {
    /// Starts monitoring the `redis-server` on `port` (before anything else talks to it).
    pub(super) fn start(port: u16) -> Result<RedisCounter> {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).context("connecting to redis-server")?;
        conn.write_all(&resp_codec::encode_command(&["MONITOR"]))?;
        let monitor = conn.try_clone()?;
        let mut reader = BufReader::new(conn);
        let mut ok = String::new();
        reader.read_line(&mut ok)?;
        if !matches!(resp_codec::decode(ok.as_bytes()), Ok(Some((Frame::Status(s), _))) if s == "OK") {
            bail!("redis-server answered MONITOR with {ok:?}");
        }
        let monitored = Arc::new(Mutex::new(Split::default()));
        let shared = monitored.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if let Some((scripted, name)) = parse_monitor_line(&line) {
                    let mut split = shared.lock().unwrap_or_else(|e| e.into_inner());
                    let counts = if scripted { &mut split.scripted } else { &mut split.sent };
                    *counts.entry(name).or_default() += 1;
                }
                line.clear();
            }
        });
        Ok(RedisCounter { port, monitored, monitor })
    }

    /// Closes the `MONITOR` connection: Redis then stops copying every command to it, which
    /// would slow every plugin that calls Redis in the timed rows. [`Self::monitored`] keeps
    /// what was seen until then.
    pub(super) fn stop_monitoring(&self) {
        let _ = self.monitor.shutdown(std::net::Shutdown::Both);
    }

    /// What `MONITOR` has shown so far.
    pub(super) fn monitored(&self) -> Split {
        self.monitored.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `INFO commandstats`, parsed.
    pub(super) fn commandstats(&self) -> Result<Counts> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).context("connecting to redis-server")?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.write_all(&resp_codec::encode_command(&["INFO", "commandstats"]))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let reply = loop {
            if let Some((frame, _)) = resp_codec::decode(&buf)? {
                break frame;
            }
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                bail!("redis-server closed the connection before answering INFO commandstats");
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let Frame::Bulk(body) = reply else {
            bail!("unexpected reply to INFO commandstats: {}", reply.kind());
        };
        Ok(parse_commandstats(&String::from_utf8_lossy(&body)))
    }
}

/// The benchmark's own commands.
fn own(name: &str) -> bool {
    name == "info" || name == "monitor"
}

/// `cmdstat_<name>:calls=N,...` lines of `INFO commandstats`, as name → calls.
pub(super) fn parse_commandstats(text: &str) -> Counts {
    text.lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = fields.split(',').find_map(|f| f.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

/// Calls of every command but the benchmark's own `info` and `monitor`.
pub(super) fn total_calls(stats: &Counts) -> u64 {
    stats.iter().filter(|(name, _)| !own(name)).map(|(_, calls)| calls).sum()
}

/// Commands (but the benchmark's own) run between two snapshots, with their counts.
pub(super) fn command_diff(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .filter(|(name, _)| !own(name))
        .map(|(name, calls)| (name.clone(), calls.saturating_sub(before.get(name).copied().unwrap_or(0))))
        .filter(|(_, calls)| *calls > 0)
        .collect()
}

/// `+1795744308.565067 [0 127.0.0.1:54656] "evalsha" "..."` → (run by a script?, `evalsha`).
/// Script commands come from `[0 lua]`. The benchmark's own commands give `None`.
fn parse_monitor_line(line: &str) -> Option<(bool, String)> {
    let (source, rest) = line.split_once('[')?.1.split_once("] \"")?;
    let name = rest.split_once('"')?.0.to_ascii_lowercase();
    if own(&name) {
        return None;
    }
    Some((source.ends_with(" lua"), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Commandstats\r\n\
        cmdstat_evalsha:calls=200,usec=4000,usec_per_call=20.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_info:calls=17,usec=900,usec_per_call=52.94,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_monitor:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_script|load:calls=2,usec=40,usec_per_call=20.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_get:calls=3,usec=3,usec_per_call=1.00,rejected_calls=1,failed_calls=0\r\n\
        not a stat line\r\n";

    #[test]
    fn commandstats_are_parsed_and_summed_without_the_benchmarks_own_commands() {
        let stats = parse_commandstats(INFO);
        assert_eq!(stats.len(), 5);
        assert_eq!(stats.get("script|load"), Some(&2));
        assert_eq!(stats.get("info"), Some(&17));
        // rejected_calls is not calls.
        assert_eq!(stats.get("get"), Some(&3));
        assert_eq!(total_calls(&stats), 205);
        assert_eq!(total_calls(&parse_commandstats("# Commandstats\r\n")), 0);
    }

    #[test]
    fn the_diff_keeps_only_commands_that_ran() {
        let before = parse_commandstats(INFO);
        let more = INFO.replace("evalsha:calls=200", "evalsha:calls=600").replace("info:calls=17", "info:calls=30");
        let after = parse_commandstats(&(more + "cmdstat_set:calls=5,usec=5\r\n"));
        let diff = command_diff(&before, &after);
        assert_eq!(diff, Counts::from([("evalsha".to_string(), 400), ("set".to_string(), 5)]));
    }

    #[test]
    fn monitor_lines_tell_client_commands_from_script_commands() {
        let sent = "+1795744308.565067 [0 127.0.0.1:54656] \"EVALSHA\" \"ab12\" \"1\" \"k \\\"q\\\"\"\r\n";
        assert_eq!(parse_monitor_line(sent), Some((false, "evalsha".to_string())));
        assert_eq!(parse_monitor_line("+1.2 [0 lua] \"incrby\" \"k\" \"1\""), Some((true, "incrby".to_string())));
        assert_eq!(parse_monitor_line("+1.2 [3 unix:/tmp/r.sock] \"get\" \"k\""), Some((false, "get".to_string())));
        assert_eq!(parse_monitor_line("+1.2 [0 127.0.0.1:1] \"info\" \"commandstats\""), None);
        assert_eq!(parse_monitor_line("+OK"), None);

        let mut before = Split::default();
        before.sent.insert("evalsha".into(), 1);
        let mut after = before.clone();
        after.sent.insert("evalsha".into(), 3);
        after.scripted.insert("get".into(), 2);
        assert_eq!(after.total(), 5);
        let ran = after.since(&before);
        assert_eq!(ran.sent, Counts::from([("evalsha".to_string(), 2)]));
        assert_eq!(ran.scripted, Counts::from([("get".to_string(), 2)]));
    }
}
