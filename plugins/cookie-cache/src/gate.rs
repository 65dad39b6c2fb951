//! The session step of a request: strip client-sent identity headers (in every spelling), look the session cookie's
//! decision up in Redis, ask the auth service on a miss (caching allow and deny with their own
//! TTLs), fall back to a stale decision or the failure status when the auth service is down,
//! and follow `failure_mode` when Redis is.

use gateway_sdk::time::now_millis;
use gateway_sdk::{HttpCall, Response, Shared, http_call};
use gateway_sdk::{HttpContext, debug};

use crate::CookieCache;
use crate::config::{SessionFailureMode, SessionSettings};
use crate::key::sha256_hex;
use crate::session::{AuthAnswer, Decision, folds_to, interpret};
use crate::storage::session_key;

/// Runs the session step. `None`: the request goes on (identity headers set when allowed);
/// `Some(response)`: answer with it (denied, or no decision possible).
pub async fn authorize(plugin: &Shared<CookieCache>, ctx: &mut HttpContext) -> Option<Response> {
    let s = plugin.session.as_ref()?;
    // A client can never supply identity headers itself, under any spelling a backend may read
    // as the same header (`X-User-Id`, `x_user_id`, `X_USER_ID`).
    let mut forged: Vec<String> = s.identity_headers.clone();
    for (name, _) in ctx.request_headers() {
        if s.identity_headers.iter().any(|h| folds_to(&name, h)) && !forged.contains(&name) {
            forged.push(name);
        }
    }
    for name in &forged {
        ctx.remove_request_header(name);
    }
    let Some(cookie) = ctx.cookie(&s.cookie).filter(|c| !c.is_empty()) else {
        return if s.required { Some(deny(s)) } else { None };
    };
    let key = session_key(&plugin.prefix, &sha256_hex(cookie.as_bytes()));
    let now = now_millis();

    let mut stale: Option<Decision> = None;
    let redis_up = if plugin.storage.admit() {
        match plugin.storage.get(&key).await {
            Ok(Some(bytes)) => match Decision::decode(&bytes) {
                Some(d) if d.is_fresh(now) => {
                    plugin.metrics.session_hits.inc();
                    return apply(s, ctx, &d);
                }
                Some(d) => {
                    stale = Some(d);
                    true
                }
                None => true,
            },
            Ok(None) => true,
            Err(e) if e.is_unavailable() => {
                gateway_sdk::warn_throttled!(
                    "cookie-cache:session",
                    "cookie-cache: session lookup failed, failure_mode applies: {e}"
                );
                false
            }
            Err(e) => {
                gateway_sdk::warn_throttled!("cookie-cache:session", "cookie-cache: session lookup failed: {e}");
                true
            }
        }
    } else {
        false
    };
    if !redis_up {
        match s.failure_mode {
            SessionFailureMode::Deny => return Some(failure(s)),
            SessionFailureMode::Allow => return None,
            SessionFailureMode::AuthService => {}
        }
    }

    plugin.metrics.auth_calls.inc();
    let answer = match http_call(auth_request(s, ctx)).await {
        Ok(resp) => interpret(resp.status, &resp.headers, &s.identity_headers),
        Err(e) => {
            gateway_sdk::warn_throttled!("cookie-cache:auth", "cookie-cache: auth service call failed: {e}");
            AuthAnswer::Unusable
        }
    };
    let decided_at_ms = now_millis();
    let decision = match answer {
        AuthAnswer::Allow(headers) => Decision { allow: true, headers, decided_at_ms, fresh_ms: s.allow_ms },
        AuthAnswer::Deny => Decision { allow: false, headers: Vec::new(), decided_at_ms, fresh_ms: s.deny_ms },
        AuthAnswer::Unusable => {
            return match stale.filter(|d| d.is_within_stale_window(decided_at_ms, s.stale_ms)) {
                Some(d) => {
                    debug!("cookie-cache: auth service unusable, using a stale decision");
                    apply(s, ctx, &d)
                }
                None => Some(failure(s)),
            };
        }
    };
    if redis_up {
        let plugin = plugin.clone();
        let bytes = decision.encode();
        let expiry = decision.fresh_ms.saturating_add(s.stale_ms);
        gateway_sdk::spawn(async move {
            if let Err(e) = plugin.storage.put(&key, &bytes, expiry).await {
                gateway_sdk::warn_throttled!(
                    "cookie-cache:session-store",
                    "cookie-cache: session decision not stored: {e}"
                );
            }
        });
    }
    apply(s, ctx, &decision)
}

fn auth_request(s: &SessionSettings, ctx: &HttpContext) -> HttpCall {
    let mut call = HttpCall::new(&s.cluster, &s.method, &s.authority, &s.path).timeout(s.timeout);
    let headers = ctx.request_headers();
    for name in &s.forward_headers {
        let values: Vec<&str> =
            headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        if !values.is_empty() {
            let sep = if name == "cookie" { "; " } else { ", " };
            call = call.header(name, &values.join(sep));
        }
    }
    call
}

fn apply(s: &SessionSettings, ctx: &mut HttpContext, d: &Decision) -> Option<Response> {
    if !d.allow {
        return Some(deny(s));
    }
    for (name, value) in &d.headers {
        if s.identity_headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            ctx.set_request_header(name, value);
        }
    }
    None
}

fn deny(s: &SessionSettings) -> Response {
    let mut r = Response::new(s.deny_status).header("cache-control", "no-store");
    if let Some(location) = &s.deny_location {
        r = r.header("location", location.as_str());
    }
    r.body(s.deny_body.as_bytes())
}

fn failure(s: &SessionSettings) -> Response {
    Response::new(s.failure_status).header("cache-control", "no-store").body("session could not be verified")
}
