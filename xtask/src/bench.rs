//! `cargo xtask bench`: per plugin, module bytes, wasm instructions (fuel) and Redis commands per
//! request of each kind (allowed / rejected, cache miss / hit), counted on a local gateway, then
//! requests/s and latency per route under wrk ([`load`]), beside the Go-built
//! `gpustack-rate-limit` ([`go`]); written to docs/benchmarks.md.

mod go;
mod load;
mod redis;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::build::build;
use crate::flags::Flags;
use crate::local_gateway::{self, GatewaySpec, Service, free_port, start_upstream};
use crate::workspace::{self, Workspace};
use redis::{Counts, RedisCounter, Split};

pub const ABOUT: &str = "count wasm instructions and Redis commands per request of each plugin";
pub const USAGE: &str = "\
usage: cargo xtask bench [--requests N] [--seconds S] [--no-write] [--profile N]

  --requests N  requests per measured row, sent one at a time (default 200, at most 10000)
  --seconds S   seconds of wrk load per timed row (default 5, at most 60; 0 skips the timed rows)
  --no-write    print the tables only; leave docs/benchmarks.md alone
  --profile N   run the gateway with the fuel profile on (modules keep their function names:
                `wasm-opt -Oz -g` of cargo's output) and print each row's N costliest wasm
                functions; implies --no-write (instrumented modules cost more than shipped ones)

Builds cluster-rate-limit, token-limit and cookie-cache (wasm-opt'd when installed) and gateway-host,
starts redis-server, the demo upstream and one gateway (one worker, an admin listener) with a route
per plugin configuration. For each kind of request it sends N requests over HTTP/1.1, checks every
status (a mismatch fails the run), and diffs the gateway's fuel counters (GET /stats) and Redis's
INFO commandstats. Then wrk loads one route at a time (no plugin, hello-redis, each plugin, the
Go-built gpustack-rate-limit) for requests/s and p50/p99, over 8 and then 64 connections. The tables
replace the marked section of docs/benchmarks.md.";

/// The document the table is written into, between [`BEGIN`] and [`END`].
const DOC: &str = "docs/benchmarks.md";
const BEGIN: &str = "<!-- xtask bench: begin -->";
const END: &str = "<!-- xtask bench: end -->";

const DEFAULT_REQUESTS: u64 = 200;
/// The rate-limit rows reuse one counter per request; the over-limit cache keeps 10,000 per worker.
const MAX_REQUESTS: u64 = 10_000;
const PLUGINS: [&str; 4] = ["cluster-rate-limit", "token-limit", "cookie-cache", "hello-redis"];
const DEFAULT_SECONDS: u64 = 5;
/// Keep-alive connections wrk keeps busy in a timed row, one table each: with 8 a plugin row
/// mostly waits on Redis (requests/s = 8 / latency, and a loopback round trip is tens of
/// microseconds on a small VM); with 64 the gateway's worker is busy all the time, so the rows
/// compare what each route costs it.
const CONNECTIONS: [u64; 2] = [8, 64];
/// The longest window a quota may have: the rate-limit rows never straddle a window reset.
const LONG_WINDOW_SECONDS: u64 = 366 * 24 * 3600;
/// A token quota no phase can exhaust.
const HUGE_QUOTA: u64 = 1_000_000_000;
const CHAT_BODY: &str = r#"{"model":"demo","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;

/// One HTTP request to the gateway.
struct Probe {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<&'static str>,
}

impl Probe {
    fn get(path: String, headers: Vec<(&'static str, String)>) -> Probe {
        Probe { method: "GET", path, headers, body: None }
    }

    fn chat(route: &str) -> Probe {
        let headers = vec![("x-api-key", "bench".to_string()), ("content-type", "application/json".to_string())];
        Probe { method: "POST", path: format!("/v1/{route}/chat/completions"), headers, body: Some(CHAT_BODY) }
    }
}

fn rate_limited(i: usize) -> Probe {
    Probe::get("/rate-limit".into(), vec![("x-bench-key", format!("k{i}"))])
}

fn go_rate_limited(i: usize) -> Probe {
    Probe::get("/go-rate-limit".into(), vec![("x-bench-key", format!("k{i}"))])
}

fn cached_page(i: usize) -> Probe {
    cached_page_named(&i.to_string())
}

fn cached_page_named(page: &str) -> Probe {
    Probe::get(format!("/cookie-cache/page/{page}"), vec![("cookie", "sid=bench".into())])
}

/// N requests of one kind, all expected to get the same answer.
struct Phase {
    /// `None` for the route without plugins.
    plugin: Option<&'static str>,
    kind: &'static str,
    status: u16,
    /// Text the `cache-status` response header must contain.
    cache_status: Option<&'static str>,
    probe: fn(usize) -> Probe,
}

/// In order: each rate-limit row reuses the counters the row before it filled, and the cache
/// hits read the entries the misses stored.
const PHASES: [Phase; 9] = [
    Phase {
        plugin: None,
        kind: "no plugin (route without filters)",
        status: 200,
        cache_status: None,
        probe: |i| Probe::get(format!("/baseline/{i}"), Vec::new()),
    },
    Phase { plugin: Some("cluster-rate-limit"), kind: "allowed", status: 200, cache_status: None, probe: rate_limited },
    Phase {
        plugin: Some("cluster-rate-limit"),
        kind: "rejected by Redis",
        status: 429,
        cache_status: None,
        probe: rate_limited,
    },
    Phase {
        plugin: Some("cluster-rate-limit"),
        kind: "rejected by the local over-limit cache",
        status: 429,
        cache_status: None,
        probe: rate_limited,
    },
    Phase {
        plugin: Some("token-limit"),
        kind: "allowed",
        status: 200,
        cache_status: None,
        probe: |_| Probe::chat("token-allowed"),
    },
    Phase {
        plugin: Some("token-limit"),
        kind: "rejected (413: the request exceeds the whole quota)",
        status: 413,
        cache_status: None,
        probe: |_| Probe::chat("token-rejected"),
    },
    Phase {
        plugin: Some("cookie-cache"),
        kind: "miss (stored)",
        status: 200,
        cache_status: Some("fwd=miss"),
        probe: cached_page,
    },
    Phase { plugin: Some("cookie-cache"), kind: "hit", status: 200, cache_status: Some("; hit"), probe: cached_page },
    Phase { plugin: Some(go::NAME), kind: "allowed (Go, wasm-go SDK)", status: 200, cache_status: None, probe: go_rate_limited },
];

/// Requests sent before measuring, so one-time costs (Redis connection, script loading, first
/// allocations) stay out of the rows. Their counters and cache keys are not reused.
fn warm_up_probes() -> Vec<(Probe, u16)> {
    let key = || vec![("x-bench-key", "warm-up".to_string())];
    let page = || Probe::get("/cookie-cache/warm-up".into(), vec![("cookie", "sid=bench".into())]);
    vec![
        (Probe::get("/baseline/warm-up".into(), Vec::new()), 200),
        (Probe::get("/rate-limit".into(), key()), 200),
        (Probe::get("/rate-limit".into(), key()), 429),
        (Probe::get("/rate-limit".into(), key()), 429),
        (Probe::chat("token-allowed"), 200),
        (Probe::chat("token-rejected"), 413),
        (page(), 200),
        (Probe::get("/go-rate-limit".into(), key()), 200),
        (Probe::get("/hello".into(), Vec::new()), 200),
        (Probe::get("/open-rate-limit".into(), key()), 200),
    ]
}

/// The routes under wrk load, the no-plugin one first. Every one answers 200: the limits are
/// out of reach, and the cookie-cache page is stored before its row.
/// The timed rows of one table; `table` names the table's stored cookie-cache page and the
/// rate limiters' key (gpustack-rate-limit keeps a sorted set of every request in its window,
/// so each table starts with an empty one).
fn load_targets(table: &str) -> Vec<load::Target> {
    let key = || vec![("x-bench-key", table.to_string())];
    let chat = Probe::chat("token-allowed");
    let target = |label: &str, path: &str, headers| load::Target { label: label.into(), path: path.into(), headers, body: None };
    vec![
        target("no plugin", "/baseline/load", Vec::new()),
        target("hello-redis (INCR + EXPIRE)", "/hello", Vec::new()),
        target("cluster-rate-limit, allowed (1 EVALSHA)", "/open-rate-limit", key()),
        load::Target { label: "token-limit, allowed (2 EVALSHA)".into(), path: chat.path, headers: chat.headers, body: chat.body },
        target("cookie-cache, hit (1 EVALSHA)", &format!("/cookie-cache/page/{table}"), vec![("cookie", "sid=bench".into())]),
        target("gpustack-rate-limit (Go), allowed, the same limit", "/go-rate-limit", key()),
    ]
}

/// What one phase cost in total.
struct Row {
    plugin: Option<&'static str>,
    kind: &'static str,
    requests: u64,
    fuel: u64,
    /// Redis commands that ran, by who sent them.
    redis: Split,
}

pub fn run(mut flags: Flags) -> Result<()> {
    let requests: u64 = flags
        .value("--requests")?
        .map(|n| n.parse())
        .transpose()
        .context("--requests")?
        .unwrap_or(DEFAULT_REQUESTS);
    if !(1..=MAX_REQUESTS).contains(&requests) {
        bail!("--requests must be between 1 and {MAX_REQUESTS}");
    }
    let seconds: u64 =
        flags.value("--seconds")?.map(|n| n.parse()).transpose().context("--seconds")?.unwrap_or(DEFAULT_SECONDS);
    if seconds > 60 {
        bail!("--seconds must be at most 60");
    }
    let profile_top: Option<u64> =
        flags.value("--profile")?.map(|n| n.parse()).transpose().context("--profile")?;
    let write = !flags.switch("--no-write") && profile_top.is_none();
    flags.finish()?;

    let ws = Workspace::load()?;
    let mut plugins = Vec::new();
    for name in PLUGINS {
        plugins.push(ws.plugins.iter().find(|p| p.name == name).cloned().with_context(|| format!("no plugin {name}"))?);
    }
    let built = build(&ws, &plugins, true)?;
    let host_binary = local_gateway::build_gateway_host(&ws)?;
    let mut module_bytes: BTreeMap<&str, usize> =
        PLUGINS.iter().copied().zip(built.iter().map(|b| b.bytes.len())).collect();
    let go_module = go::module()?;
    module_bytes.insert(go::NAME, usize::try_from(std::fs::metadata(&go_module)?.len())?);

    let dir = ws.target_dir.join("bench");
    std::fs::create_dir_all(&dir)?;
    let mut modules: Vec<std::path::PathBuf> = built.iter().map(|b| b.wasm.clone()).collect();
    if profile_top.is_some() {
        for ((name, module), b) in PLUGINS.iter().zip(modules.iter_mut()).zip(&built) {
            *module = named_module(&dir, name, &b.raw)?;
        }
    }
    let redis = Service::redis(&dir)?;
    let counter = RedisCounter::start(redis.port)?;
    let mut gateway = GatewaySpec {
        port: free_port()?,
        admin_port: Some(free_port()?),
        concurrency: 1,
        upstream: start_upstream()?,
        redis_port: redis.port,
        routes: Vec::new(),
        plugins: Vec::new(),
        profile_fuel: profile_top.is_some(),
    };
    gateway.add_route("baseline", "/baseline", &[]);
    for (plugin, wasm) in plugins.iter().zip(&modules) {
        let config = local_gateway::default_config(plugin)?;
        match plugin.name.as_str() {
            "cluster-rate-limit" => {
                gateway.add_plugin(&plugin.name, wasm, rate_limit_config(config.clone(), 1));
                gateway.add_route("rate-limit", "/rate-limit", &[&plugin.name]);
                let open = "cluster-rate-limit-open";
                gateway.add_plugin(open, wasm, rate_limit_config(config, HUGE_QUOTA));
                gateway.add_route(open, "/open-rate-limit", &[open]);
            }
            "token-limit" => {
                for (route, quota) in [("token-allowed", HUGE_QUOTA), ("token-rejected", 1)] {
                    let instance = format!("token-limit-{route}");
                    gateway.add_plugin(&instance, wasm, token_quota(config.clone(), quota));
                    gateway.add_route(route, &format!("/v1/{route}/"), &[&instance]);
                }
            }
            "hello-redis" => {
                gateway.add_plugin(&plugin.name, wasm, config);
                gateway.add_route(&plugin.name, "/hello", &[&plugin.name]);
            }
            _ => {
                gateway.add_plugin(&plugin.name, wasm, config);
                gateway.add_route(&plugin.name, &format!("/{}", plugin.name), &[&plugin.name]);
            }
        }
    }
    gateway.add_plugin(go::NAME, &go_module, go::config(HUGE_QUOTA));
    gateway.add_route(go::NAME, "/go-rate-limit", &[go::NAME]);
    let (_gateway_process, _) = gateway.start(&host_binary, &dir)?;
    let bench = Bench::new(gateway.port, gateway.admin_port.unwrap_or_default(), counter);

    for (probe, status) in warm_up_probes() {
        bench.send(&probe, status, None).context("warm-up")?;
    }
    bench.settle(bench.stats()?.requests)?;
    let mut rows = Vec::new();
    for phase in &PHASES {
        eprintln!("bench: {} {} ({requests} requests)", phase.plugin.unwrap_or("no plugin"), phase.kind);
        if profile_top.is_some() {
            bench.admin_post("/profile/reset")?;
        }
        rows.push(bench.measure(phase, requests)?);
        if let Some(top) = profile_top {
            let report = bench.admin_get(&format!("/profile?format=text&top={top}"))?;
            println!("#### profile: {} {}\n\n```\n{}\n```\n", phase.plugin.unwrap_or("no plugin"), phase.kind, report.trim_end());
        }
    }

    let mut timed = Vec::new();
    if seconds > 0 {
        bench.redis.stop_monitoring();
        for connections in CONNECTIONS {
            // The cookie-cache row reads a stored page, one per table (a page lives 60 s):
            // stored before the table and checked to still be a hit after it.
            let page = format!("load-{connections}");
            bench.send(&cached_page_named(&page), 200, None)?;
            bench.send(&cached_page_named(&page), 200, Some("; hit"))?;
            let load = load::Load { seconds, connections };
            let mut rows = Vec::new();
            for target in load_targets(&page) {
                eprintln!("bench: wrk {} ({seconds} s, {connections} connections)", target.label);
                rows.push((target.label.clone(), load::run(gateway.port, &target, load, &dir)?));
            }
            bench.send(&cached_page_named(&page), 200, Some("; hit")).context("cookie-cache after its timed row")?;
            timed.push((load, rows));
        }
    }

    let rustc = command_output("rustc", &["--version"])?;
    let mut command = "cargo xtask bench".to_string();
    if requests != DEFAULT_REQUESTS {
        command.push_str(&format!(" --requests {requests}"));
    }
    if seconds != DEFAULT_SECONDS {
        command.push_str(&format!(" --seconds {seconds}"));
    }
    let mut section = render(&rows, &module_bytes, &command, &today(), &rustc, requests);
    for (load, rows) in &timed {
        section.push('\n');
        section.push_str(&load::render(rows, *load));
    }
    println!("{section}");
    if write {
        let path = ws.root.join(DOC);
        let doc = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        workspace::write_atomic(&path, replace_section(&doc, &section)?.as_bytes())?;
        eprintln!("wrote {DOC}");
    }
    Ok(())
}

/// cluster-rate-limit: quota 1 per request key (header `x-bench-key`) in one long window. The
/// first request of a key is allowed, the second rejected by Redis, later ones by the local cache.
fn rate_limit_config(mut config: Value, quota: u64) -> Value {
    if let Some(obj) = config.as_object_mut() {
        obj.remove("global_threshold");
        obj.insert(
            "rule_items".into(),
            json!([{
                "limit_by_per_header": "x-bench-key",
                "limit_keys": [{"key": "*", "windows": [{"seconds": LONG_WINDOW_SECONDS, "quota": quota}]}]
            }]),
        );
    }
    config
}

/// token-limit: every `token_per_*` window of every rule item set to `quota`.
fn token_quota(mut config: Value, quota: u64) -> Value {
    for item in config["rule_items"].as_array_mut().into_iter().flatten() {
        for key in item["limit_keys"].as_array_mut().into_iter().flatten() {
            for (field, value) in key.as_object_mut().into_iter().flatten() {
                if field.starts_with("token_per_") {
                    *value = json!(quota);
                }
            }
        }
    }
    config
}

/// The gateway's fuel counters from `GET /stats`.
struct Stats {
    requests: u64,
    fuel: u64,
}

struct Bench {
    agent: ureq::Agent,
    base: String,
    admin: String,
    stats_url: String,
    redis: RedisCounter,
}

impl Bench {
    fn new(port: u16, admin_port: u16, redis: RedisCounter) -> Bench {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Bench {
            agent,
            base: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            stats_url: format!("http://127.0.0.1:{admin_port}/stats"),
            redis,
        }
    }

    /// Sends `probe` and fails unless it got `status` (and a `cache-status` containing `cache`).
    fn send(&self, probe: &Probe, status: u16, cache: Option<&str>) -> Result<()> {
        let url = format!("{}{}", self.base, probe.path);
        let mut request = ureq::http::Request::builder().method(probe.method).uri(&url);
        for (name, value) in &probe.headers {
            request = request.header(*name, value.as_str());
        }
        let sent = match probe.body {
            Some(body) => self.agent.run(request.body(body.as_bytes())?),
            None => self.agent.run(request.body(())?),
        };
        let mut response = sent.with_context(|| format!("{} {url}", probe.method))?;
        let got = response.status().as_u16();
        let cache_status =
            response.headers().get("cache-status").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        if got != status {
            bail!("{} {} answered {got}, expected {status}: {}", probe.method, probe.path, body.trim());
        }
        if let Some(want) = cache
            && !cache_status.contains(want)
        {
            bail!("{} {}: cache-status {cache_status:?} lacks {want:?}", probe.method, probe.path);
        }
        Ok(())
    }

    /// `GET path` on the admin listener; fails unless it answers 200.
    fn admin_get(&self, path: &str) -> Result<String> {
        let url = format!("{}{path}", self.admin);
        let mut response = self.agent.get(&url).call().with_context(|| format!("GET {url}"))?;
        let body = response.body_mut().read_to_string()?;
        if response.status() != 200 {
            bail!("GET {url} answered {}: {body}", response.status());
        }
        Ok(body)
    }

    /// `POST path` (empty body) on the admin listener; fails unless it answers 200.
    fn admin_post(&self, path: &str) -> Result<()> {
        let url = format!("{}{path}", self.admin);
        let mut response = self.agent.post(&url).send_empty().with_context(|| format!("POST {url}"))?;
        if response.status() != 200 {
            bail!("POST {url} answered {}: {}", response.status(), response.body_mut().read_to_string()?);
        }
        Ok(())
    }

    fn stats(&self) -> Result<Stats> {
        let text = self
            .agent
            .get(&self.stats_url)
            .call()
            .with_context(|| format!("GET {}", self.stats_url))?
            .body_mut()
            .read_to_string()?;
        let stats: Value = serde_json::from_str(&text).with_context(|| format!("parsing /stats: {text}"))?;
        let field = |name: &str| stats[name].as_u64().with_context(|| format!("/stats has no {name}: {text}"));
        Ok(Stats { requests: field("requests_with_plugins")?, fuel: field("fuel_total")? })
    }

    /// Waits until the gateway has finished `requests` plugin requests, Redis has run no new
    /// command for a while (token-limit settles and cookie-cache stores after the response), and
    /// `MONITOR` has shown every command `INFO commandstats` counted. Returns the fuel counters
    /// and the commands seen then.
    fn settle(&self, requests: u64) -> Result<(Stats, Split)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.stats()?.requests < requests {
            if Instant::now() > deadline {
                bail!("the gateway did not finish {requests} plugin requests within 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut last = redis::total_calls(&self.redis.commandstats()?);
        let mut quiet_since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let counted = redis::total_calls(&self.redis.commandstats()?);
            let monitored = self.redis.monitored();
            if counted != last {
                quiet_since = Instant::now();
                last = counted;
            } else if quiet_since.elapsed() >= Duration::from_millis(300) && monitored.total() == counted {
                return Ok((self.stats()?, monitored));
            }
            if Instant::now() > deadline {
                bail!(
                    "Redis did not settle within 20 s: INFO commandstats counts {counted} commands, MONITOR showed {}",
                    monitored.total()
                );
            }
        }
    }

    fn measure(&self, phase: &Phase, requests: u64) -> Result<Row> {
        let (before, redis_before) = self.settle(self.stats()?.requests)?;
        for i in 0..requests {
            let probe = (phase.probe)(usize::try_from(i)?);
            self.send(&probe, phase.status, phase.cache_status)
                .with_context(|| format!("{} {}, request {}", phase.plugin.unwrap_or("no plugin"), phase.kind, i + 1))?;
        }
        let with_plugins = if phase.plugin.is_some() { requests } else { 0 };
        let (after, redis_after) = self.settle(before.requests + with_plugins)?;
        let counted = after.requests.saturating_sub(before.requests);
        if counted != with_plugins {
            bail!("{}: the gateway counted {counted} requests with plugins, expected {with_plugins}", phase.kind);
        }
        Ok(Row {
            plugin: phase.plugin,
            kind: phase.kind,
            requests,
            fuel: after.fuel.saturating_sub(before.fuel),
            redis: redis_after.since(&redis_before),
        })
    }
}

/// `dir/named-NAME.wasm`: `raw` (cargo's output) through `wasm-opt -Oz -g`, so the module is
/// the shipped one but keeps its function names for the fuel profile.
fn named_module(dir: &std::path::Path, name: &str, raw: &[u8]) -> Result<std::path::PathBuf> {
    let input = dir.join(format!("raw-{name}.wasm"));
    let output = dir.join(format!("named-{name}.wasm"));
    std::fs::write(&input, raw).with_context(|| format!("writing {}", input.display()))?;
    let status = std::process::Command::new("wasm-opt")
        .args(["-Oz", "-g"])
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .status()
        .context("running wasm-opt (apt-get install binaryen)")?;
    if !status.success() {
        bail!("wasm-opt -Oz -g {} failed ({status})", input.display());
    }
    Ok(output)
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n / d` per request: whole numbers as is, others with two decimals.
fn ratio(n: u64, d: u64) -> String {
    if d == 0 {
        "–".to_string()
    } else if n.is_multiple_of(d) {
        thousands(n / d)
    } else {
        format!("{:.2}", n as f64 / d as f64)
    }
}

/// `2 (1 evalsha, 1 get)`: commands per request, in all and by command.
fn per_request(counts: &Counts, requests: u64) -> String {
    let total = ratio(counts.values().sum(), requests);
    if counts.is_empty() {
        return total;
    }
    let each: Vec<String> = counts.iter().map(|(name, n)| format!("{} {name}", ratio(*n, requests))).collect();
    format!("{total} ({})", each.join(", "))
}

/// The generated part of the document: command, date, toolchain and the table.
fn render(
    rows: &[Row],
    module_bytes: &BTreeMap<&str, usize>,
    command: &str,
    date: &str,
    rustc: &str,
    requests: u64,
) -> String {
    let mut out = format!(
        "### Measured {date}\n\n```\n{command}\n```\n\n{rustc}; {requests} requests per row, one at a time over \
         HTTP/1.1, one gateway worker.\n\n\
         | plugin | module bytes | request kind | wasm instructions/request | Redis commands/request | run inside those scripts/request |\n\
         | --- | ---: | --- | ---: | --- | --- |\n"
    );
    for row in rows {
        let bytes = row
            .plugin
            .and_then(|p| module_bytes.get(p))
            .map_or("–".to_string(), |&b| thousands(u64::try_from(b).unwrap_or(u64::MAX)));
        out.push_str(&format!(
            "| {} | {bytes} | {} | {} | {} | {} |\n",
            row.plugin.unwrap_or("none"),
            row.kind,
            thousands((row.fuel as f64 / row.requests as f64).round() as u64),
            per_request(&row.redis.sent, row.requests),
            per_request(&row.redis.scripted, row.requests),
        ));
    }
    out
}

/// `doc` with the text between the bench markers replaced by `section`.
fn replace_section(doc: &str, section: &str) -> Result<String> {
    let start = doc.find(BEGIN).with_context(|| format!("{DOC} has no {BEGIN} line"))?;
    let end = doc[start..].find(END).map(|i| start + i).with_context(|| format!("{DOC} has no {END} after {BEGIN}"))?;
    let section = section.trim_end();
    Ok(format!("{}{BEGIN}\n{section}\n{END}{}", &doc[..start], &doc[end + END.len()..]))
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    workspace::rfc3339(now).chars().take(10).collect()
}

fn command_output(program: &str, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(program).args(args).output().with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!("{program} {} failed ({})", args.join(" "), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_between_the_markers_is_replaced_and_the_rest_kept() {
        let doc = format!("# Benchmarks\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## After\n\ntext\n");
        let new = replace_section(&doc, "new table\n\n").unwrap();
        assert_eq!(new, format!("# Benchmarks\n\nintro\n\n{BEGIN}\nnew table\n{END}\n\n## After\n\ntext\n"));
        // Running again replaces the generated text, not the markers or what surrounds them.
        assert_eq!(replace_section(&new, "newer").unwrap(), new.replace("new table", "newer"));
        assert!(replace_section("no markers", "x").is_err());
        assert!(replace_section(&format!("{END}\n{BEGIN}\n"), "x").is_err());
    }

    #[test]
    fn the_table_shows_ratios_commands_and_the_baseline() {
        let rows = [
            Row { plugin: None, kind: "no plugin", requests: 200, fuel: 0, redis: Split::default() },
            Row {
                plugin: Some("token-limit"),
                kind: "allowed",
                requests: 200,
                fuel: 20_000_100,
                redis: Split {
                    sent: Counts::from([("evalsha".to_string(), 400)]),
                    scripted: Counts::from([("get".to_string(), 400), ("incrby".to_string(), 500)]),
                },
            },
        ];
        let bytes = BTreeMap::from([("token-limit", 1_497_083)]);
        let text = render(&rows, &bytes, "cargo xtask bench", "2026-11-27", "rustc 1.95.0", 200);
        assert!(text.contains("```\ncargo xtask bench\n```"), "{text}");
        assert!(text.contains("2026-11-27") && text.contains("rustc 1.95.0"), "{text}");
        assert!(text.contains("| none | – | no plugin | 0 | 0 | 0 |"), "{text}");
        let allowed = "| token-limit | 1,497,083 | allowed | 100,001 | 2 (2 evalsha) | 4.50 (2 get, 2.50 incrby) |";
        assert!(text.contains(allowed), "{text}");
    }

    #[test]
    fn quotas_are_overridden_from_the_default_configs() {
        let config = json!({"rule_items": [{"limit_by_per_header": "x-api-key",
            "limit_keys": [{"key": "*", "token_per_minute": 100_000, "token_per_day": 2_000_000}]}]});
        let config = token_quota(config, 1);
        assert_eq!(config["rule_items"][0]["limit_keys"][0], json!({"key": "*", "token_per_minute": 1, "token_per_day": 1}));
        let config = rate_limit_config(json!({"rule_name": "default", "global_threshold": {"query_per_second": 100}}), 1);
        assert!(config.get("global_threshold").is_none());
        assert_eq!(config["rule_items"][0]["limit_keys"][0]["windows"][0]["quota"], 1);
        assert_eq!(config["rule_name"], "default");
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(444_711), "444,711");
        assert_eq!(thousands(1_497_083), "1,497,083");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(today().len(), 10);
    }
}
