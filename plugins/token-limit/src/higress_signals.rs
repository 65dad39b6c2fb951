//! What Higress's `ai-token-ratelimit` tells the rest of the gateway about a rejection
//! (alibaba/higress 4e0d691 `main.go`), so its dashboards and access logs keep working: the
//! counter `route.<route>.upstream.<cluster>.model.none.consumer.<consumer>.metric.token_ratelimit_count`
//! and `token_ratelimit_status: limited` in the `ai_log` filter-state attribute, merged into what
//! other AI plugins (e.g. ai-statistics) wrote there, in wasm-go's encoding (a JSON object,
//! string-escaped: `{\"token_ratelimit_status\":\"limited\"}`).

use std::collections::HashMap;

use gateway_json::{JsonView, Kind, Leniency};
use gateway_quota::keys::CONSUMER_HEADER;
use gateway_sdk::WorkerState;
use gateway_sdk::metrics::Counter;
use gateway_sdk::prelude::*;

use crate::json_text::{push_canonical, push_escaped, push_string, sorted_members};

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

/// The member this plugin adds.
const STATUS: (&str, &str) = ("token_ratelimit_status", "limited");

/// `previous` with `token_ratelimit_status: limited` added; `None` when `previous` is not
/// wasm-go's encoding of an object (wasm-go then leaves it alone too). Written as serde_json
/// wrote its map of the fields: sorted by key, compact, then string-escaped.
fn merged_ai_log(previous: &str) -> Option<String> {
    let mut object = String::with_capacity(previous.len() + 40);
    object.push('{');
    if previous.is_empty() {
        push_member(&mut object, STATUS.0, STATUS.1);
    } else {
        let mut quoted = String::with_capacity(previous.len() + 2);
        quoted.push('"');
        quoted.push_str(previous);
        quoted.push('"');
        let text =
            JsonView::parse(quoted.as_bytes(), Leniency::Strict).filter(|v| v.kind() == Kind::String)?.as_str()?;
        let fields = JsonView::parse(text.as_bytes(), Leniency::Strict).filter(JsonView::is_object)?;
        let mut status_written = false;
        for (key, value) in sorted_members(fields) {
            let key = key.decoded();
            if !status_written && *key >= *STATUS.0 {
                push_member(&mut object, STATUS.0, STATUS.1);
                status_written = true;
                if *key == *STATUS.0 {
                    continue;
                }
            }
            push_string(&mut object, &key);
            object.push(':');
            push_canonical(&mut object, value);
            object.push(',');
        }
        if !status_written {
            push_member(&mut object, STATUS.0, STATUS.1);
        }
    }
    if object.ends_with(',') {
        object.pop();
    }
    object.push('}');
    let mut out = String::with_capacity(object.len() + 16);
    push_escaped(&mut out, &object);
    Some(out)
}

/// `"key":"value",`.
fn push_member(out: &mut String, key: &str, value: &str) {
    push_string(out, key);
    out.push(':');
    push_string(out, value);
    out.push(',');
}

/// The merge as it was: serde_json's map of the fields, written by serde_json.
#[cfg(test)]
fn merged_by_serde_json(previous: &str) -> Option<String> {
    use serde_json::{Map, Value};
    let mut fields = if previous.is_empty() {
        Map::new()
    } else {
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
    use super::{merged_ai_log, merged_by_serde_json};

    #[test]
    fn the_status_is_merged_into_what_other_plugins_logged() {
        assert_eq!(merged_ai_log("").as_deref(), Some(r#"{\"token_ratelimit_status\":\"limited\"}"#));
        let merged = merged_ai_log(r#"{\"model\":\"qwen\",\"input_token\":10}"#).unwrap();
        assert_eq!(merged, r#"{\"input_token\":10,\"model\":\"qwen\",\"token_ratelimit_status\":\"limited\"}"#);
        assert_eq!(merged_ai_log("not json"), None);
    }

    #[test]
    fn the_merge_writes_what_serde_json_wrote() {
        let cases = [
            "",
            r#"{}"#,
            r#"{\"model\":\"qwen\",\"input_token\":10}"#,
            r#"{\"token_ratelimit_status\":\"other\",\"a\":1}"#,
            r#"{\"zz\":[1, 2.50, {\"b\":1,\"a\":-0}],\"token_ratelimit\":null,\"u\":\"\\u00e9\\n\"}"#,
            r#"{\"a\":1,\"a\":2,\"token_ratelimit_statusx\":true,\"t\u006fken\":1e2}"#,
            r#"{ \"spaced\" : 1.5e300 , \"n\": 18446744073709551616 }"#,
            r#"[1]"#,
            r#"\"str\""#,
            r#"{\"a\":"#,
            r#"{"a":1}"#,
            r#"{\"a\":1}\" , \"b"#,
            "\\",
        ];
        for previous in cases {
            assert_eq!(merged_ai_log(previous), merged_by_serde_json(previous), "{previous}");
        }
    }
}
