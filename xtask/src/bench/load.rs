//! Timed rows of `cargo xtask bench`: requests/s and latency percentiles through gateway-host,
//! measured with `wrk` (closed loop, keep-alive connections) against one route at a time.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One route under load: what wrk sends.
pub(super) struct Target {
    /// What the row is called in the table.
    pub(super) label: String,
    pub(super) path: String,
    pub(super) headers: Vec<(&'static str, String)>,
    /// A JSON body sent with POST; GET without one.
    pub(super) body: Option<&'static str>,
}

/// What wrk measured for one target.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Measured {
    pub(super) requests: u64,
    pub(super) per_second: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
}

/// How long and how hard each target is loaded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Load {
    pub(super) seconds: u64,
    pub(super) connections: u64,
}

/// Runs wrk against `target` on `port`; fails if any answer was not 2xx/3xx or a socket failed.
pub(super) fn run(port: u16, target: &Target, load: Load, dir: &Path) -> Result<Measured> {
    let mut command = Command::new("wrk");
    command
        .args(["-t1", "--latency"])
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.seconds))
        .arg(format!("http://127.0.0.1:{port}{}", target.path));
    for (name, value) in &target.headers {
        command.arg("-H").arg(format!("{name}: {value}"));
    }
    if let Some(body) = target.body {
        let script = dir.join("wrk-post.lua");
        let lua = format!("wrk.method = \"POST\"\nwrk.body = [[{body}]]\n");
        std::fs::write(&script, lua).with_context(|| format!("writing {}", script.display()))?;
        command.arg("-s").arg(&script);
    }
    let out = command.output().context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!("wrk failed for {}: {}{}", target.label, text, String::from_utf8_lossy(&out.stderr));
    }
    parse(&text).with_context(|| format!("{}: wrk printed:\n{text}", target.label))
}

/// Reads requests, requests/s and the 50th/99th percentiles from wrk's `--latency` report.
fn parse(text: &str) -> Result<Measured> {
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx or 3xx responses")) {
        bail!("unexpected answers: {}", line.trim());
    }
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        bail!("{}", line.trim());
    }
    let percentile = |p: &str| -> Result<f64> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(p))
            .with_context(|| format!("no {p} percentile"))?;
        duration_ms(line.trim_start_matches(p).trim())
    };
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .context("no request count")?
        .parse()?;
    let per_second = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .context("no Requests/sec")?
        .trim()
        .parse()?;
    Ok(Measured { requests, per_second, p50_ms: percentile("50%")?, p99_ms: percentile("99%")? })
}

/// `635.00us`, `5.23ms`, `1.02s` in milliseconds.
fn duration_ms(text: &str) -> Result<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        bail!("no unit in {text:?}");
    };
    Ok(number.parse::<f64>().with_context(|| format!("{text:?}"))? * scale)
}

/// The timed table: one row per target, the no-plugin row first (ratios are against it).
pub(super) fn render(rows: &[(String, Measured)], load: Load) -> String {
    let mut out = format!(
        "Timed with `wrk -t1 -c{} -d{}s --latency`, one route at a time, on the same gateway (one worker) and \
         Redis as the table above (its `MONITOR` connection closed first, so Redis does not copy every command \
         to it).\n\n\
         | route | requests/s | vs no plugin | p50 | p99 | requests |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
        load.connections, load.seconds
    );
    let baseline = rows.first().map_or(0.0, |(_, m)| m.per_second);
    for (label, m) in rows {
        let ratio = if baseline > 0.0 { format!("{:.2}x", m.per_second / baseline) } else { "–".to_string() };
        out.push_str(&format!(
            "| {label} | {:.0} | {ratio} | {:.3} ms | {:.3} ms | {} |\n",
            m.per_second, m.p50_ms, m.p99_ms, m.requests
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 5s test @ http://127.0.0.1:8080/baseline\n  1 threads and 8 connections\n  \
        Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   700.00us  300.00us   5.00ms   90.00%\n  \
        Latency Distribution\n     50%  635.00us\n     75%  800.00us\n     90%    1.10ms\n     99%    5.23ms\n  \
        46370 requests in 5.00s, 6.12MB read\nRequests/sec:   9273.41\nTransfer/sec:      1.22MB\n";

    #[test]
    fn wrk_reports_are_read_and_failures_rejected() {
        let m = parse(REPORT).unwrap();
        assert_eq!(m.requests, 46370);
        assert!((m.per_second - 9273.41).abs() < 1e-9);
        assert!((m.p50_ms - 0.635).abs() < 1e-9 && (m.p99_ms - 5.23).abs() < 1e-9);
        let limited = REPORT.replace("Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec");
        assert!(parse(&limited).is_err());
        let broken = REPORT.replace("Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec");
        assert!(parse(&broken).is_err());
        assert!((duration_ms("1.5s").unwrap() - 1500.0).abs() < 1e-9);
    }

    #[test]
    fn the_timed_table_compares_with_the_first_row() {
        let m = |per_second| Measured { requests: 10, per_second, p50_ms: 0.5, p99_ms: 2.0 };
        let text = render(&[("no plugin".into(), m(1000.0)), ("hello-redis".into(), m(600.0))], Load { seconds: 5, connections: 8 });
        assert!(text.contains("| no plugin | 1000 | 1.00x | 0.500 ms | 2.000 ms | 10 |"), "{text}");
        assert!(text.contains("| hello-redis | 600 | 0.60x |"), "{text}");
    }
}
