//! gateway-quota: the quota engine shared by the Redis-backed limiters (request rate limits, token budgets).
//!
//! The pieces, in the order a request meets them:
//!
//! 1. [`keys`]: Higress `rule_items` (`limit_by_header`, `limit_by_per_ip`, ... with `limit_keys`
//!    matched exactly, by `regexp:`, by `*` or by CIDR), compiled at configure time into a
//!    [`keys::KeySelector`] that resolves a request to a rule item, a key value and that key's
//!    limits.
//! 2. [`cache`]: a worker-local over-limit cache. Once a key is over its quota it is rejected
//!    locally, without calling Redis, until its window ends.
//! 3. [`failure`]: the failure policy: `failure_mode: allow | deny`, a circuit breaker, and a
//!    local per-gateway fallback limit while the breaker is open.
//! 4. [`store`]: the atomic check-and-charge of N units across every window of a request in one
//!    Redis call (one EVALSHA script, every key under one hash tag), with `fixed` and `sliding`
//!    windows, and a second script to settle a reservation by a signed delta.
//! 5. [`higress`]: counters named and windowed as Higress's Go plugins keep them, so Go and
//!    Rust gateways of one fleet can share them during a migration.
//! 6. [`headers`]: the IETF draft `RateLimit-Policy` / `RateLimit` fields, `Retry-After` and
//!    Higress's `X-RateLimit-Limit` / `X-RateLimit-Remaining`.
//!
//! Windows are described by [`window::Window`] (a span and a quota): a number of seconds, or
//! a calendar day, month or year in a time zone ([`calendar`]). A request may be limited by
//! several at once (e.g. 10/s, 1000/h and 100,000 per month), all checked in one Redis call.
//! [`thresholds`] reads the window fields every limiter shares (`query_per_minute`,
//! `token_quota: {each_month: ...}`, ...).

pub mod cache;
pub mod calendar;
mod cidr;
pub mod config;
pub mod failure;
pub mod headers;
pub mod higress;
pub mod higress_fields;
pub mod keys;
pub mod late_charge;
pub mod limiter;
pub mod store;
pub mod thresholds;
pub mod window;

pub use cache::OverLimitCache;
pub use calendar::{CalendarUnit, Period, Zone};
pub use failure::{FailureMode, FailurePolicy, FallbackLimiter, Route};
pub use keys::{KeySelector, KeyText, LimitKeyEntry, LimitKind, RequestKeys, RuleItemConfig, Selection};
pub use store::{Outcome, QuotaStore, Reservation, WindowStatus};
pub use thresholds::{CalendarQuota, LimitKey, QuotaUnit, Requests, Thresholds, Tokens};
pub use window::{Algorithm, Span, Window};
