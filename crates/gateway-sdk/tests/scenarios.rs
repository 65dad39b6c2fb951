//! SDK scenarios against the native TestHost: pausing and resuming on Redis replies, typed
//! failures, late and unknown callbacks, concurrent calls, scripts, HTTP calls, local replies,
//! bodies, configuration errors and `_rules_` matching.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_sdk::log::LogLevel;
use gateway_sdk::prelude::*;
use gateway_sdk::redis::RedisError;
use gateway_sdk::testing::{Action, TestHost};
use gateway_sdk::{HttpCall, http_call};

config_struct! {
    struct ProbeConfig {
        redis: RedisConfig,
        mode: String = String::new(),
        label: String = String::new(),
    }
}

struct Probe {
    redis: RedisClient,
    mode: String,
    label: String,
    script: Script,
}

impl Plugin for Probe {
    const NAME: &'static str = "probe";
    type Config = ProbeConfig;
    type Filter = ProbeFilter;
    /// These scenarios exercise rules laid over the global object (the opt-in style).
    const CONFIG_STYLE: gateway_sdk::config::ConfigStyle = gateway_sdk::config::ConfigStyle::LAYERED;

    fn compile(c: ProbeConfig, at: &ConfigPath) -> Result<Self, ConfigError> {
        if c.mode == "invalid" {
            return Err(at.field("mode").error("`invalid` is not a mode"));
        }
        Ok(Probe {
            redis: RedisClient::new(&c.redis, &at.field("redis"))?,
            mode: c.mode,
            label: c.label,
            script: Script::new("return redis.call('INCR', KEYS[1])"),
        })
    }

    fn new_filter(plugin: &Shared<Self>) -> ProbeFilter {
        ProbeFilter { p: plugin.clone() }
    }
}

struct ProbeFilter {
    p: Shared<Probe>,
}

fn describe(r: Result<i64, RedisError>) -> String {
    match r {
        Ok(n) => format!("ok:{n}"),
        Err(RedisError::Reply(e)) => format!("reply:{e}"),
        Err(RedisError::Transport { .. }) => "transport".into(),
        Err(RedisError::Dispatch { code, .. }) => format!("dispatch:{code}"),
        Err(RedisError::UnexpectedReply { got, .. }) => format!("unexpected:{got}"),
        Err(RedisError::Protocol(_)) => "protocol".into(),
    }
}

impl HttpFilter for ProbeFilter {
    async fn on_request_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        ctx.set_request_header("x-label", &self.p.label);
        let result = match self.p.mode.as_str() {
            "incr" => describe(self.p.redis.incr("k").await),
            "two" => {
                let (a, b) = join(self.p.redis.incr("a"), self.p.redis.incr("b")).await;
                format!("{},{}", describe(a), describe(b))
            }
            "script" => match self.p.script.run(&self.p.redis, &["{t}:k"], &[] as &[&str]).await {
                Ok(Reply::Int(n)) => format!("ok:{n}"),
                other => format!("{other:?}"),
            },
            "http" => {
                let call = HttpCall::new("outbound|80||auth.static", "GET", "auth", "/check")
                    .header("x-user", &ctx.request_header("x-user").unwrap_or_default());
                match http_call(call).await {
                    Ok(resp) if resp.status == 200 => format!("allowed:{}", String::from_utf8_lossy(&resp.body)),
                    Ok(resp) => return Flow::Respond(Response::new(resp.status).body("denied")),
                    Err(e) => format!("error:{e}"),
                }
            }
            "redis-then-http" => {
                let _ = self.p.redis.incr("k").await;
                match http_call(HttpCall::new("outbound|80||auth.static", "GET", "auth", "/")).await {
                    Ok(resp) => format!("status:{}", resp.status),
                    Err(e) => format!("error:{e}"),
                }
            }
            "sleep" => {
                gateway_sdk::time::sleep(std::time::Duration::from_millis(50)).await;
                format!("woke:{}", self.p.redis.incr("k").await.unwrap_or(-1))
            }
            "block" => {
                let n = self.p.redis.incr("k").await.unwrap_or(0);
                return Flow::Respond(Response::new(429).header("x-count", n.to_string()).body("slow down"));
            }
            _ => String::new(),
        };
        // Header changes after an await must land on this request.
        ctx.set_request_header("x-result", &result);
        Flow::Continue
    }

    fn response_body_mode(&self) -> BodyMode {
        if self.p.mode == "upper" { BodyMode::Streamed } else { BodyMode::Skip }
    }

    async fn on_response_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        if self.p.mode == "replace-5xx" && ctx.response_status().unwrap_or(0) >= 500 {
            let cached = self.p.redis.get("page").await.ok().flatten().unwrap_or_default();
            return Flow::Respond(Response::new(200).header("cache-status", "stale").body(cached));
        }
        ctx.set_response_header("x-label", &self.p.label);
        Flow::Continue
    }

    async fn on_response_body(&mut self, _ctx: &mut HttpContext, body: &mut Body) -> Flow {
        let upper = body.bytes().to_ascii_uppercase();
        body.replace(&upper);
        Flow::Continue
    }
}

fn config(mode: &str) -> String {
    format!(r#"{{"redis": {{"service_name": "redis.static", "service_port": 6379}}, "mode": "{mode}"}}"#)
}

fn host(mode: &str) -> TestHost<Probe> {
    match TestHost::<Probe>::configure(&config(mode)) {
        Ok(h) => h,
        Err(e) => panic!("configure failed: {e}"),
    }
}

const GET: &[(&str, &str)] = &[(":method", "GET"), (":path", "/"), (":authority", "example.com")];

#[test]
fn pauses_on_a_redis_call_and_resumes_when_the_reply_arrives() {
    let mut h = host("incr");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let calls = h.take_redis_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].args(), ["INCR", "k"]);
    assert_eq!(calls[0].cluster, "outbound|6379||redis.static");
    assert_eq!(calls[0].token % 4, 3, "Higress tokens are 3 mod 4");
    assert_eq!(h.request_resumed(s), 0);
    h.reply_redis(calls[0].token, Reply::Int(5));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("ok:5"));
    // The callback ran on the root context; the SDK switched to the stream before resuming it.
    assert_eq!(h.effective_contexts().last(), Some(&s));
    assert_eq!(h.runtime_stats(), (0, 0));
}

#[test]
fn error_replies_and_transport_failures_are_distinct_typed_errors() {
    let mut h = host("incr");
    let a = h.new_stream(GET);
    let b = h.new_stream(GET);
    let c = h.new_stream(GET);
    h.request_headers(a, true);
    h.request_headers(b, true);
    h.request_headers(c, true);
    let calls = h.take_redis_calls();
    h.reply_redis(calls[0].token, Reply::Error("NOAUTH Authentication required.".into()));
    h.fail_redis(calls[1].token);
    h.reply_redis_raw(calls[2].token, b"$5\r\nabc");
    assert_eq!(h.request_header(a, "x-result").as_deref(), Some("reply:NOAUTH Authentication required."));
    assert_eq!(h.request_header(b, "x-result").as_deref(), Some("transport"));
    assert_eq!(h.request_header(c, "x-result").as_deref(), Some("protocol"));
    for s in [a, b, c] {
        assert_eq!(h.request_resumed(s), 1, "every failure still resumes the request");
    }
}

#[test]
fn a_wrong_reply_type_is_an_unexpected_reply_error() {
    let mut h = host("incr");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    let call = h.take_redis_calls().remove(0);
    h.reply_redis(call.token, Reply::Bulk(b"x".to_vec()));
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("unexpected:bulk string"));
}

#[test]
fn a_late_callback_after_the_request_ended_is_ignored() {
    let mut h = host("incr");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let call = h.take_redis_calls().remove(0);
    h.end_stream(s);
    assert_eq!(h.runtime_stats().0, 0, "the pending hook was dropped with its stream");
    h.reply_redis(call.token, Reply::Int(1));
    assert_eq!(h.request_resumed(s), 0);
    assert!(h.logs(LogLevel::Debug).iter().any(|l| l.contains("late callback")), "{:?}", h.logs(LogLevel::Trace));
    assert_eq!(h.runtime_stats(), (0, 0));
}

#[test]
fn an_unknown_token_is_ignored() {
    let mut h = host("incr");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    h.reply_redis(999, Reply::Int(1));
    h.fail_redis(1003);
    assert_eq!(h.request_resumed(s), 0);
    assert!(h.logs(LogLevel::Debug).iter().any(|l| l.contains("unknown token 999")));
    // The real call still completes normally afterwards.
    let call = h.take_redis_calls().remove(0);
    h.reply_redis(call.token, Reply::Int(2));
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("ok:2"));
}

#[test]
fn two_redis_calls_are_in_flight_at_once_in_one_hook() {
    let mut h = host("two");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let calls = h.take_redis_calls();
    assert_eq!(calls.len(), 2, "both commands were sent before either reply");
    // Replies may come in any order.
    h.reply_redis(calls[1].token, Reply::Int(20));
    assert_eq!(h.request_resumed(s), 0);
    h.reply_redis(calls[0].token, Reply::Int(10));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("ok:10,ok:20"));
}

#[test]
fn scripts_use_evalsha_and_fall_back_to_eval_once_on_noscript() {
    let mut h = host("script");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    let first = h.take_redis_calls().remove(0);
    assert_eq!(first.command(), "EVALSHA");
    assert_eq!(first.args()[2..], ["1".to_string(), "{t}:k".to_string()]);
    h.reply_redis(first.token, Reply::Error("NOSCRIPT No matching script.".into()));
    let second = h.take_redis_calls().remove(0);
    assert_eq!(second.command(), "EVAL");
    assert_eq!(second.args()[1], "return redis.call('INCR', KEYS[1])");
    h.reply_redis(second.token, Reply::Int(1));
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("ok:1"));
    assert!(h.take_redis_calls().is_empty());
}

#[test]
fn an_unknown_redis_cluster_is_rejected_at_configure_time_naming_the_cluster() {
    let err = TestHost::<Probe>::configure_with_unknown_clusters(&config("incr"), &["outbound|6379||redis.static"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("redis.service_name"), "{err}");
    assert!(err.contains("outbound|6379||redis.static"), "{err}");
}

#[test]
fn bad_configs_are_rejected_naming_the_field_path() {
    let cases = [
        (r#"{"redis": {"service_name": "r.dns"}, "mode": 5}"#, "probe: invalid config at mode: "),
        (r#"{"redis": {"service_name": "r.dns", "timeout": "x"}}"#, "at redis.timeout:"),
        (r#"{"redis": {"service_name": ""}}"#, "at redis.service_name: must not be empty"),
        (r#"{"redis": {"service_name": "r.dns"}, "moed": "x"}"#, "unknown field `moed`"),
        (r#"{"mode": "incr"}"#, "missing field `redis`"),
        (
            r#"{"redis": {"service_name": "r.dns"}, "_rules_": [{"_match_route_": ["a"], "mode": "invalid"}]}"#,
            "probe: invalid config at _rules_[0].mode: `invalid` is not a mode",
        ),
        (r#"{"redis": {"service_name": "r.dns"}, "_rules_": [{"mode": "incr"}]}"#, "at _rules_[0]: a rule needs"),
        // `a.*.b` is an exact domain to wasm-go (rule_matcher.go 343-362), so it is no error.
        (r#"{"redis": {"service_name": "r.dns"}, "_rules_": [{"_match_domain_": []}]}"#, "at _rules_[0]: a rule needs"),
        (
            r#"{"redis": {"service_name": "r.dns"}, "_rules_": [{"_match_route_": ["a"], "redis": {"service_name": "r.dns", "password": 5}}]}"#,
            "at _rules_[0].redis.password",
        ),
        ("[1]", "must be a JSON object"),
        ("{", "not valid JSON"),
    ];
    for (json, expected) in cases {
        match TestHost::<Probe>::configure(json) {
            Ok(_) => panic!("accepted a bad config: {json}"),
            Err(e) => assert!(e.to_string().contains(expected), "{json}\n  gave: {e}\n  wanted: {expected}"),
        }
    }
}

#[test]
fn secrets_do_not_appear_in_errors_or_logs() {
    let json = r#"{"redis": {"service_name": "r.dns", "password": "hunter2", "timeout": 0}}"#;
    let err = TestHost::<Probe>::configure(json).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("redis.timeout") && !err.contains("hunter2"), "{err}");
}

fn rules_config() -> String {
    r#"{
        "redis": {"service_name": "redis.static"},
        "label": "global",
        "_rules_": [
            {"_match_route_": ["route-a"], "label": "by-route"},
            {"_match_domain_": ["*.example.com", "exact.org"], "label": "by-domain"},
            {"_match_service_": ["backend.default.svc.cluster.local:8080"], "label": "by-service"},
            {"_match_route_prefix_": ["api-"], "label": "by-prefix"}
        ]
    }"#
    .to_string()
}

fn label_for(h: &mut TestHost<Probe>, authority: &str, route: Option<&str>, cluster: Option<&str>) -> Option<String> {
    let s = h.new_stream(&[(":method", "GET"), (":path", "/"), (":authority", authority)]);
    if let Some(r) = route {
        h.set_property(s, "route_name", r);
    }
    if let Some(c) = cluster {
        h.set_property(s, "cluster_name", c);
    }
    assert_eq!(h.request_headers(s, true), Action::Continue);
    h.request_header(s, "x-label")
}

#[test]
fn rules_match_by_route_domain_service_and_prefix_and_fall_back_to_global() {
    let mut h = match TestHost::<Probe>::configure(&rules_config()) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    };
    let svc = "outbound|8080||backend.default.svc.cluster.local";
    assert_eq!(label_for(&mut h, "x.io", Some("route-a"), None).as_deref(), Some("by-route"));
    assert_eq!(label_for(&mut h, "api.example.com:8443", Some("other"), None).as_deref(), Some("by-domain"));
    assert_eq!(label_for(&mut h, "exact.org", None, None).as_deref(), Some("by-domain"));
    // wasm-go compares `:authority` with its case (rule_matcher.go 381-402; issue 13).
    assert_eq!(label_for(&mut h, "EXACT.org", None, None).as_deref(), Some("global"));
    assert_eq!(label_for(&mut h, "example.com", None, None).as_deref(), Some("global"), "*.x does not match x");
    assert_eq!(label_for(&mut h, "x.io", None, Some(svc)).as_deref(), Some("by-service"));
    assert_eq!(label_for(&mut h, "x.io", Some("api-v1"), None).as_deref(), Some("by-prefix"));
    // First match wins: route-a also matches a domain rule here.
    assert_eq!(label_for(&mut h, "api.example.com", Some("route-a"), None).as_deref(), Some("by-route"));
    assert_eq!(label_for(&mut h, "x.io", Some("zzz"), Some("outbound|80||other.static")).as_deref(), Some("global"));
}

#[test]
fn without_a_global_config_unmatched_requests_skip_the_plugin() {
    let json = r#"{"_rules_": [{"_match_route_": ["r"], "redis": {"service_name": "redis.static"}, "label": "rule"}]}"#;
    let mut h = match TestHost::<Probe>::configure(json) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(label_for(&mut h, "x.io", Some("r"), None).as_deref(), Some("rule"));
    assert_eq!(label_for(&mut h, "x.io", Some("other"), None), None);
}

#[test]
fn a_hook_can_answer_with_a_local_response_after_awaiting() {
    let mut h = host("block");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let call = h.take_redis_calls().remove(0);
    h.reply_redis(call.token, Reply::Int(51));
    let reply = h.local_response(s).unwrap_or_else(|| panic!("no local response"));
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("x-count"), Some("51"));
    assert_eq!(reply.body, b"slow down");
    assert_eq!(h.request_resumed(s), 0, "a local response is not a resume");
    // The plugin's own local reply does not run its response hooks.
    assert_eq!(h.response_headers(s, &[(":status", "429")], true), Action::Continue);
    assert_eq!(h.response_header(s, "x-label"), None);
}

#[test]
fn a_response_hook_replaces_a_failed_upstream_response_while_paused() {
    let mut h = host("replace-5xx");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Continue);
    assert_eq!(h.response_headers(s, &[(":status", "503")], false), Action::Pause);
    let call = h.take_redis_calls().remove(0);
    assert_eq!(call.args(), ["GET", "page"]);
    h.reply_redis(call.token, Reply::Bulk(b"cached page".to_vec()));
    let reply = h.local_response(s).unwrap_or_else(|| panic!("no local response"));
    assert_eq!((reply.status, reply.body.as_slice()), (200, b"cached page".as_slice()));
    assert_eq!(reply.header("cache-status"), Some("stale"));
}

#[test]
fn an_http_call_is_awaited_and_its_answer_decides() {
    let mut h = host("http");
    let allowed = h.new_stream(&[(":method", "GET"), (":path", "/"), ("x-user", "alice")]);
    let denied = h.new_stream(&[(":method", "GET"), (":path", "/"), ("x-user", "mallory")]);
    assert_eq!(h.request_headers(allowed, true), Action::Pause);
    assert_eq!(h.request_headers(denied, true), Action::Pause);
    let calls = h.http_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].cluster, "outbound|80||auth.static");
    assert_eq!(calls[0].header("x-user"), Some("alice"));
    assert_ne!(calls[0].token % 4, 3, "HTTP tokens never collide with Redis tokens");
    h.reply_http(calls[1].token, 403, &[], b"");
    h.reply_http(calls[0].token, 200, &[("x-id", "1")], b"yes");
    assert_eq!(h.request_header(allowed, "x-result").as_deref(), Some("allowed:yes"));
    assert_eq!(h.local_response(denied).map(|r| r.status), Some(403));
}

#[test]
fn a_failed_http_call_is_a_typed_error() {
    let mut h = host("http");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    let call = h.http_calls().remove(0);
    h.fail_http(call.token);
    let result = h.request_header(s, "x-result").unwrap_or_default();
    assert!(result.starts_with("error:") && result.contains("outbound|80||auth.static"), "{result}");
}

#[test]
fn an_http_call_after_a_redis_reply_targets_the_same_stream() {
    let mut h = host("redis-then-http");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    let call = h.take_redis_calls().remove(0);
    h.reply_redis(call.token, Reply::Int(1));
    let http = h.http_calls().remove(0);
    h.reply_http(http.token, 204, &[], b"");
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("status:204"));
    assert_eq!(h.request_resumed(s), 1);
}

#[test]
fn streamed_body_chunks_are_rewritten_one_by_one() {
    let mut h = host("upper");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    h.response_headers(s, &[(":status", "200")], false);
    assert_eq!(h.response_body(s, b"hello ", false), Action::Continue);
    assert_eq!(h.take_response_body(s), b"HELLO ");
    assert_eq!(h.response_body(s, b"world", true), Action::Continue);
    assert_eq!(h.take_response_body(s), b"WORLD");
}

#[test]
fn a_sleeping_hook_keeps_the_stream_paused_until_the_tick_after_its_deadline() {
    let mut h = host("sleep");
    assert_eq!(h.tick_period_ms(), 0, "no tick while nobody sleeps");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    assert_eq!(h.tick_period_ms(), 10, "the first sleeper turns the tick on");
    let other = h.new_stream(GET);
    assert_eq!(h.request_headers(other, true), Action::Pause, "a second sleeper");
    h.advance(std::time::Duration::from_millis(40));
    assert!(h.redis_calls().is_empty(), "still asleep after 40 ms");
    assert_eq!(h.request_resumed(s), 0);
    h.end_stream(other);
    h.advance(std::time::Duration::from_millis(10));
    let calls = h.take_redis_calls();
    assert_eq!(calls.len(), 1, "only the live stream woke and called Redis after 50 ms");
    assert_eq!(h.tick_period_ms(), 0, "the tick is off once nobody sleeps");
    h.reply_redis(calls[0].token, Reply::Int(3));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("woke:3"));
    assert_eq!(h.runtime_stats(), (0, 0), "no task or timer left behind");
}
