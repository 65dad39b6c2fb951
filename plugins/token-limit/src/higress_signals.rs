//! What Higress's `ai-token-ratelimit` tells the rest of the gateway about a rejection
//! (alibaba/higress 4e0d691 `main.go`), so its dashboards and access logs keep working: the
//! counter `route.<route>.upstream.<cluster>.model.none.consumer.<consumer>.metric.token_ratelimit_count`
//! and `token_ratelimit_status: limited` in the `ai_log` filter-state attribute, merged into what
//! other AI plugins (e.g. ai-statistics) wrote there, in wasm-go's encoding (a JSON object,
//! string-escaped: `{\"token_ratelimit_status\":\"limited\"}`).

use std::collections::HashMap;

use gateway_quota::keys::CONSUMER_HEADER;
use gateway_sdk::WorkerState;
use gateway_sdk::metrics::Counter;
use gateway_sdk::prelude::*;
use serde_json::{Map, Value};

/// wasm-go's `AILogKey`.
const AI_LOG: &str = "ai_log";

/// The per-worker metric table (names depend on the route, cluster and consumer).
#[derive(Debug, Default)]
pub struct RejectionSignals {
    counters: WorkerState<HashMap<String, Counter>>,
}

impl RejectionSignals {
    /// Records one rejection of the request in `ctx`.
    pub fn record(&self, ctx: &mut HttpContext) {
        let route = ctx.route_name().unwrap_or_default();
        let cluster = ctx.cluster_name().unwrap_or_default();
        let consumer = ctx.request_header(CONSUMER_HEADER).unwrap_or_default();
        let name =
            format!("route.{route}.upstream.{cluster}.model.none.consumer.{consumer}.metric.token_ratelimit_count");
        self.counters.with(|c| c.entry(name).or_insert_with_key(|n| Counter::new(n)).inc());
        let previous = ctx.property_string(&[AI_LOG]).unwrap_or_default();
        if let Some(merged) = merged_ai_log(&previous) {
            ctx.set_property(&[AI_LOG], merged.as_bytes());
        }
    }
}

/// `previous` with `token_ratelimit_status: limited` added; `None` when `previous` is not
/// wasm-go's encoding of an object (wasm-go then leaves it alone too).
fn merged_ai_log(previous: &str) -> Option<String> {
    let mut fields = if previous.is_empty() {
        Map::new()
    } else {
        // Read as a `Value`: a typed `String` target would link serde_json's typed-error
        // texts, and with them f64's `Display` (14 KB).
        let text = match serde_json::from_str::<Value>(&format!("\"{previous}\"")).ok()? {
            Value::String(s) => s,
            _ => return None,
        };
        match serde_json::from_str(&text).ok()? {
            Value::Object(m) => m,
            _ => return None,
        }
    };
    fields.insert("token_ratelimit_status".to_string(), Value::String("limited".to_string()));
    let quoted = serde_json::to_string(&Value::Object(fields).to_string()).ok()?;
    Some(quoted[1..quoted.len() - 1].to_string())
}

#[cfg(test)]
mod tests {
    use super::merged_ai_log;

    #[test]
    fn the_status_is_merged_into_what_other_plugins_logged() {
        assert_eq!(merged_ai_log("").as_deref(), Some(r#"{\"token_ratelimit_status\":\"limited\"}"#));
        let merged = merged_ai_log(r#"{\"model\":\"qwen\",\"input_token\":10}"#).unwrap();
        assert_eq!(merged, r#"{\"input_token\":10,\"model\":\"qwen\",\"token_ratelimit_status\":\"limited\"}"#);
        assert_eq!(merged_ai_log("not json"), None);
    }
}
