//! The request hooks: the session step, then the cache lookup (fresh hit answered from Redis,
//! stale copy kept for disaster recovery, stampede lock or bounded wait on a miss, straight
//! upstream for a key marked hit-for-pass); on the response, stale serving on upstream failure,
//! storing cacheable responses, and marking the key hit-for-pass when the fetch was not.

use std::time::Duration;

use gateway_sdk::debug;
use gateway_sdk::prelude::*;
use gateway_sdk::time::{now_millis, sleep};

use crate::CookieCache;
use crate::cache_status::{CacheStatus, Forward};
use crate::config::CacheSettings;
use crate::entry::Entry;
use crate::key::KeyInput;
use crate::policy::replayable_headers;
use crate::storage::{CacheKeys, lock_token};

/// A response being collected for storage.
#[derive(Debug)]
struct Pending {
    status: u16,
    headers: Vec<(String, String)>,
    fresh_ms: u64,
    body: Vec<u8>,
}

/// Per-request state.
pub struct CacheFilter {
    plugin: Shared<CookieCache>,
    /// The `Cache-Status` to put on the upstream's response (None: the cache did not run).
    status: Option<CacheStatus>,
    keys: Option<CacheKeys>,
    /// Our lock token while we hold the stampede lock.
    lock: Option<String>,
    /// A stale copy within the stale window, served if the upstream fails.
    stale: Option<Entry>,
    pending: Option<Pending>,
    /// The request went upstream on a hit-for-pass marker.
    passed: bool,
    /// The request carried every cookie of the key (a response setting cookies may be stored).
    identified: bool,
}

impl CacheFilter {
    pub(crate) fn new(plugin: Shared<CookieCache>) -> Self {
        CacheFilter {
            plugin,
            status: None,
            keys: None,
            lock: None,
            stale: None,
            pending: None,
            passed: false,
            identified: false,
        }
    }

    fn cache(&self) -> Option<&CacheSettings> {
        self.plugin.cache.as_ref()
    }

    /// The cache step of the request. Returns a response to answer with, if any.
    async fn lookup(&mut self, ctx: &mut HttpContext) -> Option<Response> {
        let plugin = self.plugin.clone();
        let c = plugin.cache.as_ref()?;
        let method = ctx.method().to_ascii_uppercase();
        if !c.methods.contains(&method) {
            self.status = Some(CacheStatus::forwarded(&c.name, Forward::Method));
            return None;
        }
        let headers = ctx.request_headers();
        if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            && !c.key.headers.iter().any(|h| h == "authorization")
        {
            // Credentials outside the key could let one client read another's response.
            self.status = Some(bypass(c, "authorization"));
            return None;
        }
        if !plugin.storage.admit() {
            plugin.metrics.bypass.inc();
            self.status = Some(bypass(c, "redis-unavailable"));
            return None;
        }
        let host = ctx.host();
        let path = ctx.path();
        let (digest, identified) =
            c.key.digest_identifying(&KeyInput { method: &method, host: &host, path: &path, headers: &headers });
        self.identified = identified;
        let mut keys = CacheKeys::new(&plugin.prefix, &digest);
        let lock_ms = c.stampede.map_or(0, |s| s.lock_ms);
        // Without stampede protection the lookup never locks, so no token is needed.
        let mut token = if lock_ms > 0 { lock_token() } else { String::new() };
        let started = now_millis();
        let mut polls: u32 = 0;
        loop {
            let now = now_millis();
            plugin.metrics.lookups.inc();
            let (looked_up, k, t) = guarded_lookup(&plugin, keys, now, token, lock_ms).await;
            (keys, token) = (k, t);
            let found = match looked_up {
                Ok(found) => found,
                Err(e) => {
                    gateway_sdk::warn_throttled!(
                        "cookie-cache:lookup",
                        "cookie-cache: lookup failed, going upstream without the cache: {e}"
                    );
                    plugin.metrics.bypass.inc();
                    self.status = Some(bypass(c, "redis-error"));
                    return None;
                }
            };
            let now = now_millis();
            let entry = found.entry.as_deref().and_then(|bytes| match Entry::decode(bytes) {
                Ok(e) => Some(e),
                Err(e) => {
                    debug!("cookie-cache: ignoring an undecodable entry: {e:?}");
                    None
                }
            });
            let entry = entry.filter(|e| e.is_within_stale_window(now, c.stale_ms));
            if let Some(e) = entry.as_ref().filter(|e| e.is_fresh(now)) {
                plugin.metrics.hits.inc();
                let status = CacheStatus { collapsed: polls > 0, ..CacheStatus::hit(&c.name, e.ttl_seconds(now)) };
                if polls > 0 {
                    plugin.metrics.collapsed.inc();
                }
                return entry.map(|e| answer(e, now, &status));
            }
            let fwd = if entry.is_some() { Forward::Stale } else { Forward::Miss };
            if found.pass {
                // The last fetch of this key could not be stored: nobody waits for this one.
                plugin.metrics.passes.inc();
                self.passed = true;
                self.status =
                    Some(CacheStatus { detail: Some("hit-for-pass"), ..CacheStatus::forwarded(&c.name, fwd) });
                self.stale = entry;
                self.keys = Some(keys);
                return None;
            }
            if found.locked || lock_ms == 0 {
                // We fetch for everyone (or there is no stampede protection).
                if found.locked {
                    plugin.metrics.locks.inc();
                    self.lock = Some(token);
                }
                plugin.metrics.misses.inc();
                self.status = Some(CacheStatus::forwarded(&c.name, fwd));
                self.stale = entry;
                self.keys = Some(keys);
                return None;
            }
            // Another request (on any gateway) is fetching this key.
            if let Some(e) = entry {
                plugin.metrics.stale.inc();
                let status = CacheStatus {
                    detail: Some("stale-while-revalidate"),
                    ..CacheStatus::hit(&c.name, e.ttl_seconds(now))
                };
                return Some(answer(e, now, &status));
            }
            polls += 1;
            if polls == 1 {
                plugin.metrics.waits.inc();
            }
            let waited = now.saturating_sub(started);
            let (wait_ms, interval_ms, max_polls) =
                c.stampede.map_or((0, 1, 0), |s| (s.wait_ms, s.poll_interval_ms, s.max_polls));
            if waited >= wait_ms || polls > max_polls {
                plugin.metrics.misses.inc();
                self.status = Some(CacheStatus {
                    detail: Some("lock-wait-exceeded"),
                    ..CacheStatus::forwarded(&c.name, Forward::Miss)
                });
                self.keys = Some(keys);
                return None;
            }
            // Back off before looking again (never past the end of the wait).
            sleep(Duration::from_millis(interval_ms.min(wait_ms - waited))).await;
        }
    }

    /// Stores the collected response in the background and gives up the lock with it.
    fn store(&mut self) {
        let (Some(pending), Some(keys)) = (self.pending.take(), self.keys.clone()) else { return };
        let Some(c) = self.cache() else { return };
        let entry = Entry {
            status: pending.status,
            headers: pending.headers,
            body: pending.body,
            stored_at_ms: now_millis(),
            fresh_ms: pending.fresh_ms,
        };
        let expiry = pending.fresh_ms.saturating_add(c.stale_ms);
        let token = self.lock.take().unwrap_or_default();
        let plugin = self.plugin.clone();
        let bytes = entry.encode();
        gateway_sdk::spawn(async move {
            match plugin.storage.store(&keys, &bytes, expiry, &token).await {
                Ok(()) => plugin.metrics.stored.inc(),
                Err(e) => {
                    gateway_sdk::warn_throttled!("cookie-cache:store", "cookie-cache: response not stored: {e}");
                }
            }
        });
    }

    /// The response will not be stored: if we hold the lock, it becomes the hit-for-pass marker
    /// (everyone else goes upstream at once instead of waiting for a fetch that is never cached);
    /// without `hit_for_pass_ms` the lock is just released.
    fn uncacheable(&mut self) {
        let marker_ms = self.cache().and_then(|c| c.stampede).map_or(0, |s| s.hit_for_pass_ms);
        if marker_ms == 0 {
            self.release();
            return;
        }
        let (Some(token), Some(keys)) = (self.lock.take(), self.keys.clone()) else { return };
        let plugin = self.plugin.clone();
        gateway_sdk::spawn(async move {
            if let Err(e) = plugin.storage.mark_uncacheable(&keys, &token, marker_ms).await {
                debug!("cookie-cache: hit-for-pass not marked (the lock expires by itself): {e}");
            }
        });
    }

    /// Releases the stampede lock in the background, if we hold it.
    fn release(&mut self) {
        let (Some(token), Some(keys)) = (self.lock.take(), self.keys.clone()) else { return };
        let plugin = self.plugin.clone();
        gateway_sdk::spawn(async move {
            if let Err(e) = plugin.storage.release(&keys, &token).await {
                debug!("cookie-cache: lock not released (it expires by itself): {e}");
            }
        });
    }
}

/// Looks the key up (taking the stampede lock when nobody holds it). The lookup completes even
/// if the stream ends while it is in flight; a lock it took for a request that is gone is
/// released at once instead of blocking everyone for `lock_ms`.
///
/// The keys and the lock token come back with the result: the task owns them meanwhile, and the
/// release of an abandoned lock needs them.
async fn guarded_lookup(
    plugin: &Shared<CookieCache>,
    keys: CacheKeys,
    now: u64,
    token: String,
    lock_ms: u64,
) -> (Result<crate::storage::Found, RedisError>, CacheKeys, String) {
    let looking = plugin.clone();
    let (found, keys, token, _) = gateway_sdk::task::spawn(async move {
        let found = looking.storage.lookup(&keys, now, &token, lock_ms).await;
        (found, keys, token, looking)
    })
    .on_abandon(|(found, keys, token, plugin)| {
        if found.is_ok_and(|f| f.locked) {
            gateway_sdk::task::spawn(async move {
                if let Err(e) = plugin.storage.release(&keys, &token).await {
                    debug!("cookie-cache: abandoned lock not released (it expires by itself): {e}");
                }
            });
        }
    })
    .await;
    (found, keys, token)
}

fn bypass(c: &CacheSettings, detail: &'static str) -> CacheStatus {
    CacheStatus { detail: Some(detail), ..CacheStatus::forwarded(&c.name, Forward::Bypass) }
}

/// A response built from a stored entry.
fn answer(e: Entry, now_ms: u64, status: &CacheStatus) -> Response {
    let age = e.age_seconds(now_ms).to_string();
    let mut r = Response::new(e.status);
    r.headers = e.headers;
    r.header("age", age).header("cache-status", status.to_string()).body(e.body)
}

impl HttpFilter for CacheFilter {
    async fn on_request_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        if let Some(response) = crate::gate::authorize(&self.plugin, ctx).await {
            return Flow::Respond(response);
        }
        match self.lookup(ctx).await {
            Some(response) => Flow::Respond(response),
            None => Flow::Continue,
        }
    }

    async fn on_response_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        let plugin = self.plugin.clone();
        let (Some(c), Some(mut status)) = (plugin.cache.as_ref(), self.status.take()) else { return Flow::Continue };
        let code = ctx.response_status().unwrap_or(0);
        status.fwd_status = Some(code);
        let now = now_millis();
        if c.stale_on_status.contains(&code)
            && let Some(e) = self.stale.take().filter(|e| e.is_within_stale_window(now, c.stale_ms))
        {
            plugin.metrics.stale.inc();
            self.release();
            status.ttl = Some(e.ttl_seconds(now));
            status.detail = Some("stale-on-error");
            return Flow::Respond(answer(e, now, &status));
        }
        self.stale = None;
        if self.keys.is_some() {
            let headers = ctx.response_headers();
            let head = ctx.method().eq_ignore_ascii_case("HEAD");
            // A HEAD response's content-length describes a body that is not there.
            let checked: Vec<(String, String)> = if head {
                headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("content-length")).cloned().collect()
            } else {
                headers.clone()
            };
            match c.policy.check_response(code, &checked, self.identified) {
                Ok(fresh_ms) => {
                    let keep = replayable_headers(&headers, c.policy.store_set_cookie);
                    self.pending = Some(Pending { status: code, headers: keep, fresh_ms, body: Vec::new() });
                    let declared = headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
                    if declared == Some(0) || head || code == 204 {
                        self.store();
                        status.stored = true;
                    } else if declared.is_some() {
                        status.stored = true;
                    }
                }
                Err(reason) => {
                    status.detail = Some(if self.passed { "hit-for-pass" } else { reason.as_str() });
                    self.uncacheable();
                }
            }
        }
        ctx.set_response_header("cache-status", &status.to_string());
        Flow::Continue
    }

    fn response_body_mode(&self) -> BodyMode {
        if self.pending.is_some() { BodyMode::Streamed } else { BodyMode::Skip }
    }

    async fn on_response_body(&mut self, _ctx: &mut HttpContext, body: &mut Body) -> Flow {
        let max = self.cache().map_or(0, |c| c.policy.max_body_bytes);
        if let Some(p) = self.pending.as_mut() {
            if p.body.len().saturating_add(body.len()) > max {
                self.pending = None;
                self.uncacheable();
            } else {
                p.body.extend_from_slice(&body.bytes());
            }
        }
        if body.is_end_of_stream() {
            self.store();
        }
        Flow::Continue
    }

    fn on_stream_done(&mut self, _ctx: &mut HttpContext) {
        // A response that never completed is not stored; let someone else fetch.
        self.pending = None;
        self.release();
    }
}
