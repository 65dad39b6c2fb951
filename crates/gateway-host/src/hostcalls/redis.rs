//! Higress's Redis host calls: `proxy_redis_init` and `proxy_redis_call`.

use wasmtime::{Caller, Linker};

use super::macros::wrap;
use super::proxy::emit_log;
use crate::abi::status;
use crate::memory::{self, Fail};
use crate::services::redis::Command;
use crate::state::HostState;
use crate::values::RedisSettings;

type R = Result<i32, Fail>;

pub fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wrap!(linker, "env", "proxy_redis_init", redis_init, (sp, sl, up, ul, pp, pl, timeout));
    wrap!(linker, "env", "proxy_redis_call", redis_call, (sp, sl, qp, ql, token_out));
    Ok(())
}

/// Splits `outbound|6379||redis.static?db=1` into the cluster name and its query parameters.
fn split_service(service: &str) -> (&str, Vec<(&str, &str)>) {
    match service.split_once('?') {
        Some((name, query)) => {
            (name, query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect())
        }
        None => (service, Vec::new()),
    }
}

#[allow(clippy::too_many_arguments)]
fn redis_init(c: &mut Caller<'_, HostState>, sp: i32, sl: i32, up: i32, ul: i32, pp: i32, pl: i32, timeout: i32) -> R {
    let service = memory::read_string(c, sp, sl)?;
    let username = memory::read_string(c, up, ul)?;
    let password = memory::read_string(c, pp, pl)?;
    let (cluster, params) = split_service(&service);
    let state = c.data_mut();
    if !state.services().clusters.contains_key(cluster) {
        emit_log(state, log::Level::Warn, format!("proxy_redis_init: unknown cluster {cluster:?}"));
        return Ok(status::BAD_ARGUMENT);
    }
    let mut settings = RedisSettings { username, password, timeout_ms: timeout as u32, db: 0 };
    for (k, v) in params {
        if k == "db" {
            settings.db = v.parse().unwrap_or(0);
        }
        // buffer_flush_timeout / max_buffer_size_before_flush: this host writes each command
        // at once, which is what passing 0 for both gives on Higress.
    }
    // A different configuration for the same cluster tears the old connection down, as on
    // Higress (init once per worker and configuration, never per request).
    if let Some(old) = state.set_redis_settings(cluster, settings.clone())
        && old != settings
        && let Some(endpoint) =
            state.services().clusters.get(cluster).and_then(|cl| cl.config.endpoints.first().cloned())
    {
        state.services().redis.close(&endpoint, &old);
    }
    Ok(status::OK)
}

fn redis_call(c: &mut Caller<'_, HostState>, sp: i32, sl: i32, qp: i32, ql: i32, token_out: i32) -> R {
    let service = memory::read_string(c, sp, sl)?;
    let query = memory::read(c, qp, ql)?;
    memory::check(c, token_out, 4)?;
    let (cluster, _) = split_service(&service);
    let state = c.data_mut();
    let Some(endpoint) = state.services().clusters.get(cluster).map(|cl| cl.config.endpoints[0].clone()) else {
        emit_log(state, log::Level::Debug, format!("proxy_redis_call: unknown cluster {cluster:?}"));
        return Ok(status::BAD_ARGUMENT);
    };
    let settings = state.redis_settings(cluster);
    let token = state.next_redis_token();
    let command = Command { bytes: query, token, reply_to: state.events().clone() };
    if let Err(e) = state.services().redis.send(&endpoint, &settings, command) {
        emit_log(state, log::Level::Debug, format!("proxy_redis_call on cluster {cluster:?}: {e}"));
        return Ok(status::INTERNAL_FAILURE);
    }
    state.register_redis_call(token);
    memory::write_u32(c, token_out, token)?;
    Ok(status::OK)
}

#[cfg(test)]
mod tests {
    use super::split_service;

    #[test]
    fn service_query_parameters_are_split_off() {
        let (name, params) = split_service("outbound|6379||r.static?db=2&buffer_flush_timeout=0");
        assert_eq!(name, "outbound|6379||r.static");
        assert_eq!(params, vec![("db", "2"), ("buffer_flush_timeout", "0")]);
        assert_eq!(split_service("a").0, "a");
    }
}
