//! The executor and the stream lifecycle against the native TestHost: wakers (join_all over 64
//! calls, FuturesUnordered, awaiting a spawned task, a hand-woken future), cancellation-safe
//! work (`on_abandon`), the token table after aborted streams, body hooks at the end of a stream
//! that ends on trailers or on headers, and hooks held while another one is pending.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use gateway_sdk::log::LogLevel;
use gateway_sdk::prelude::*;
use gateway_sdk::task;
use gateway_sdk::testing::{Action, TestHost};

config_struct! {
    struct LifeConfig {
        redis: RedisConfig,
        mode: String,
    }
}

struct Life {
    redis: RedisClient,
    mode: String,
}

impl Plugin for Life {
    const NAME: &'static str = "life";
    type Config = LifeConfig;
    type Filter = LifeFilter;

    fn compile(c: LifeConfig, at: &ConfigPath) -> Result<Self, ConfigError> {
        Ok(Life { redis: RedisClient::new(&c.redis, &at.field("redis"))?, mode: c.mode })
    }

    fn new_filter(plugin: &Shared<Self>) -> LifeFilter {
        LifeFilter { p: plugin.clone() }
    }
}

struct LifeFilter {
    p: Shared<Life>,
}

/// A one-shot slot woken by hand: the shape of every channel.
#[derive(Default)]
struct Slot {
    value: Option<i64>,
    waker: Option<Waker>,
}

struct SlotFuture(Rc<RefCell<Slot>>);

impl Future for SlotFuture {
    type Output = i64;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<i64> {
        let mut s = self.0.borrow_mut();
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl HttpFilter for LifeFilter {
    async fn on_request_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        let redis = self.p.redis.clone();
        let result = match self.p.mode.as_str() {
            "join64" => {
                let calls = (0..64).map(|i| redis.incr(format!("k{i}")));
                let sum: i64 = gateway_sdk::join_all(calls).await.into_iter().map(|r| r.unwrap_or(0)).sum();
                format!("sum:{sum}")
            }
            "unordered" => {
                let mut set: FuturesUnordered<_> = (0..5).map(|i| redis.incr(format!("u{i}"))).collect();
                let mut order = Vec::new();
                while let Some(r) = set.next().await {
                    order.push(r.unwrap_or(0).to_string());
                }
                format!("got:{}", order.join(","))
            }
            "spawned" => {
                let handle = task::spawn(async move { redis.incr("spawned").await.unwrap_or(-1) });
                format!("joined:{}", handle.await)
            }
            "woken" => {
                let slot = Rc::new(RefCell::new(Slot::default()));
                let writer = slot.clone();
                gateway_sdk::spawn(async move {
                    let n = redis.incr("woken").await.unwrap_or(-1);
                    let mut s = writer.borrow_mut();
                    s.value = Some(n);
                    if let Some(w) = s.waker.take() {
                        w.wake();
                    }
                });
                format!("woken:{}", SlotFuture(slot).await)
            }
            "guarded" => {
                let undo = redis.clone();
                let reserved = task::spawn(async move { redis.incrby("reserved", 10).await })
                    .on_abandon(move |reserved| {
                        if reserved.is_ok() {
                            task::spawn(async move {
                                let _ = undo.incrby("reserved", -10).await;
                            });
                        }
                    })
                    .await;
                format!("reserved:{}", reserved.unwrap_or(-1))
            }
            "plain" => format!("plain:{}", redis.incr("plain").await.unwrap_or(-1)),
            _ => String::new(),
        };
        ctx.set_request_header("x-result", &result);
        Flow::Continue
    }

    fn request_body_mode(&self) -> BodyMode {
        match self.p.mode.as_str() {
            "buffered" | "slow-body" => BodyMode::Buffered,
            "streamed" => BodyMode::Streamed,
            _ => BodyMode::Skip,
        }
    }

    async fn on_request_body(&mut self, _ctx: &mut HttpContext, body: &mut Body) -> Flow {
        let text = String::from_utf8_lossy(&body.bytes()).into_owned();
        gateway_sdk::info!("request body {:?} end={}", text, body.is_end_of_stream());
        if self.p.mode == "slow-body" {
            let _ = self.p.redis.incr("admit").await;
        }
        Flow::Continue
    }

    async fn on_request_trailers(&mut self, ctx: &mut HttpContext) -> Flow {
        gateway_sdk::info!("request trailers {:?}", ctx.request_trailer("grpc-status"));
        Flow::Continue
    }

    fn response_body_mode(&self) -> BodyMode {
        if self.p.mode == "buffered" { BodyMode::Buffered } else { BodyMode::Skip }
    }

    async fn on_response_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        gateway_sdk::info!("response headers {:?}", ctx.response_status());
        Flow::Continue
    }

    async fn on_response_body(&mut self, _ctx: &mut HttpContext, body: &mut Body) -> Flow {
        let text = String::from_utf8_lossy(&body.bytes()).into_owned();
        gateway_sdk::info!("response body {:?} end={}", text, body.is_end_of_stream());
        Flow::Continue
    }
}

fn host(mode: &str) -> TestHost<Life> {
    let json = format!(r#"{{"redis": {{"service_name": "redis.static", "service_port": 6379}}, "mode": "{mode}"}}"#);
    TestHost::<Life>::configure(&json).unwrap_or_else(|e| panic!("configure: {e}"))
}

const GET: &[(&str, &str)] = &[(":method", "GET"), (":path", "/"), (":authority", "example.com")];
const POST: &[(&str, &str)] = &[(":method", "POST"), (":path", "/"), (":authority", "example.com")];

fn info_logs(h: &TestHost<Life>) -> Vec<String> {
    h.logs(LogLevel::Info).into_iter().filter(|l| l.starts_with("request ") || l.starts_with("response ")).collect()
}

/// Answers every pending Redis call with `n`, oldest first, until none is left.
fn answer_all(h: &mut TestHost<Life>, n: i64) -> usize {
    let mut answered = 0;
    loop {
        let calls = h.take_redis_calls();
        if calls.is_empty() {
            return answered;
        }
        for c in calls {
            h.reply_redis(c.token, Reply::Int(n));
            answered += 1;
        }
    }
}

#[test]
fn join_all_over_64_redis_calls_completes() {
    let mut h = host("join64");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let calls = h.take_redis_calls();
    assert_eq!(calls.len(), 64, "all 64 calls are in flight at once");
    // Answer in reverse order: completion must not depend on the order of the replies.
    for c in calls.iter().rev() {
        h.reply_redis(c.token, Reply::Int(2));
    }
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("sum:128"));
    assert_eq!(h.runtime_stats(), (0, 0));
}

#[test]
fn futures_unordered_yields_in_reply_order() {
    let mut h = host("unordered");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    let calls = h.take_redis_calls();
    assert_eq!(calls.len(), 5);
    for (i, c) in calls.iter().enumerate().rev() {
        h.reply_redis(c.token, Reply::Int(i as i64));
    }
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("got:4,3,2,1,0"));
    assert_eq!(h.runtime_stats(), (0, 0));
}

#[test]
fn a_hook_awaits_a_spawned_task() {
    let mut h = host("spawned");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let calls = h.take_redis_calls();
    assert_eq!(calls.len(), 1);
    h.reply_redis(calls[0].token, Reply::Int(7));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("joined:7"));
    assert_eq!(h.runtime_stats(), (0, 0));
}

#[test]
fn a_future_woken_by_another_task_completes() {
    let mut h = host("woken");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    let calls = h.take_redis_calls();
    h.reply_redis(calls[0].token, Reply::Int(3));
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("woken:3"));
    assert_eq!(h.request_resumed(s), 1);
}

#[test]
fn guarded_work_is_undone_when_its_stream_ends_mid_call() {
    let mut h = host("guarded");
    let s = h.new_stream(GET);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let reserve = h.take_redis_calls().remove(0);
    assert_eq!(reserve.args(), ["INCRBY", "reserved", "10"]);
    h.end_stream(s);
    // The reservation still completes; nobody awaits it any more, so it is undone.
    h.reply_redis(reserve.token, Reply::Int(10));
    let undo = h.take_redis_calls();
    assert_eq!(undo.len(), 1, "one undo call");
    assert_eq!(undo[0].args(), ["INCRBY", "reserved", "-10"]);
    h.reply_redis(undo[0].token, Reply::Int(0));
    assert_eq!(h.runtime_stats(), (0, 0));
}

#[test]
fn guarded_work_is_not_undone_when_its_hook_takes_the_result() {
    let mut h = host("guarded");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    let reserve = h.take_redis_calls().remove(0);
    h.reply_redis(reserve.token, Reply::Int(10));
    assert_eq!(h.request_header(s, "x-result").as_deref(), Some("reserved:10"));
    h.end_stream(s);
    assert!(h.take_redis_calls().is_empty(), "nothing to undo");
}

#[test]
fn the_token_table_is_empty_after_1000_aborted_streams() {
    let mut h = host("plain");
    let mut late = Vec::new();
    for _ in 0..1000 {
        let s = h.new_stream(GET);
        assert_eq!(h.request_headers(s, true), Action::Pause);
        late.extend(h.take_redis_calls());
        h.end_stream(s);
    }
    assert_eq!(h.runtime_stats(), (0, 0), "no task and no pending call is left");
    // Late replies are dropped as unknown.
    for c in late.iter().take(10) {
        h.reply_redis(c.token, Reply::Int(1));
    }
    assert_eq!(h.runtime_stats(), (0, 0));
}

#[test]
fn a_buffered_body_hook_runs_when_the_request_ends_with_trailers() {
    let mut h = host("buffered");
    let s = h.new_stream(POST);
    assert_eq!(h.request_headers(s, false), Action::Continue);
    assert_eq!(h.request_body(s, b"hello ", false), Action::Pause);
    assert_eq!(h.request_body(s, b"world", false), Action::Pause);
    // As in Envoy: no body callback with end_of_stream, the trailers end the request.
    assert_eq!(h.request_trailers(s, &[("grpc-status", "0")]), Action::Continue);
    assert_eq!(
        info_logs(&h),
        vec!["request body \"hello world\" end=true".to_string(), "request trailers Some(\"0\")".to_string()]
    );
}

#[test]
fn a_buffered_body_hook_runs_once_for_a_bodyless_request() {
    let mut h = host("buffered");
    let s = h.new_stream(POST);
    assert_eq!(h.request_headers(s, true), Action::Continue);
    assert_eq!(info_logs(&h), vec!["request body \"\" end=true".to_string()]);
}

#[test]
fn a_buffered_response_body_hook_runs_for_a_bodyless_response() {
    let mut h = host("buffered");
    let s = h.new_stream(GET);
    h.request_headers(s, true);
    assert_eq!(h.response_headers(s, &[(":status", "204")], true), Action::Continue);
    assert_eq!(
        info_logs(&h),
        vec![
            "request body \"\" end=true".to_string(),
            "response headers Some(204)".to_string(),
            "response body \"\" end=true".to_string()
        ]
    );
}

#[test]
fn a_streamed_body_hook_sees_the_end_on_trailers() {
    let mut h = host("streamed");
    let s = h.new_stream(POST);
    h.request_headers(s, false);
    assert_eq!(h.request_body(s, b"a", false), Action::Continue);
    assert_eq!(h.request_trailers(s, &[("x", "1")]), Action::Continue);
    assert_eq!(
        info_logs(&h),
        vec![
            "request body \"a\" end=false".to_string(),
            "request body \"\" end=true".to_string(),
            "request trailers None".to_string()
        ]
    );
}

#[test]
fn response_headers_that_arrive_while_the_request_hook_is_pending_resume_after_it() {
    let mut h = host("slow-body");
    let s = h.new_stream(POST);
    h.request_headers(s, false);
    assert_eq!(h.request_body(s, b"{}", true), Action::Pause);
    let admit = h.take_redis_calls().remove(0);
    // The upstream answers before the request body was admitted.
    assert_eq!(h.response_headers(s, &[(":status", "200")], false), Action::Pause);
    h.reply_redis(admit.token, Reply::Int(1));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.response_resumed(s), 1, "the held response headers ran and the response resumed");
    assert_eq!(
        info_logs(&h),
        vec!["request body \"{}\" end=true".to_string(), "response headers Some(200)".to_string()]
    );
    assert_eq!(h.runtime_stats(), (0, 0));
}

#[test]
fn a_rejection_then_more_requests_do_not_hang() {
    let mut h = host("plain");
    for i in 0..20 {
        let s = h.new_stream(GET);
        assert_eq!(h.request_headers(s, true), Action::Pause);
        if i % 3 == 0 {
            let c = h.take_redis_calls().remove(0);
            h.reply_redis(c.token, Reply::Error("ERR rejected".into()));
        } else {
            assert_eq!(answer_all(&mut h, 1), 1);
        }
        assert_eq!(h.request_resumed(s), 1, "request {i} resumed");
        h.end_stream(s);
    }
    assert_eq!(h.runtime_stats(), (0, 0));
}
