//! `proxy_http_call` (a.k.a. dispatch_http_call): an HTTP request to a named cluster whose
//! response arrives later through `proxy_on_http_call_response`.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use super::macros::wrap;
use super::proxy::emit_log;
use crate::abi::{self, status};
use crate::memory::{self, Fail};
use crate::services::upstream;
use crate::state::HostState;
use crate::values::VmEvent;

type R = Result<i32, Fail>;

pub fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wrap!(linker, "env", "proxy_http_call", http_call, (up, ul, hp, hl, bp, bl, tp, tl, timeout, token_out));
    wrap!(linker, "env", "proxy_dispatch_http_call", http_call, (up, ul, hp, hl, bp, bl, tp, tl, timeout, token_out));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn http_call(
    c: &mut Caller<'_, HostState>,
    up: i32,
    ul: i32,
    hp: i32,
    hl: i32,
    bp: i32,
    bl: i32,
    tp: i32,
    tl: i32,
    timeout: i32,
    token_out: i32,
) -> R {
    let cluster = memory::read_string(c, up, ul)?;
    let headers = memory::read(c, hp, hl)?;
    let body = memory::read(c, bp, bl)?;
    memory::check(c, tp, tl)?;
    // Like proxy-wasm-cpp-host: the token slot is zeroed first, so a refused call leaves 0 there.
    memory::write_u32(c, token_out, 0)?;
    let Some(headers) = abi::decode_pairs(&headers) else {
        return Ok(status::BAD_ARGUMENT);
    };
    let headers: Vec<_> = headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    let has = |name: &[u8]| headers.iter().any(|(k, _)| k.as_slice() == name);
    if timeout < 0 {
        return Ok(status::BAD_ARGUMENT);
    }
    let state = c.data_mut();
    let Some(cluster_timeout) = state.services().clusters.get(&cluster).map(|cl| cl.config.timeout_ms) else {
        emit_log(state, log::Level::Debug, format!("proxy_http_call: unknown cluster {cluster:?}"));
        return Ok(status::BAD_ARGUMENT);
    };
    if !has(b":method") || !has(b":path") || !has(b":authority") {
        return Ok(status::BAD_ARGUMENT);
    }
    let token = state.register_http_call();
    let services = state.services().clone();
    let events = state.events().clone();
    // 0 means no timeout of its own (Envoy); the cluster's request timeout still bounds it.
    let timeout = Duration::from_millis(if timeout == 0 { cluster_timeout } else { timeout as u64 });
    tokio::task::spawn_local(async move {
        let Some(cluster) = services.clusters.get(&cluster) else {
            return;
        };
        let response = upstream::http_call(&services.upstream, cluster, headers, body, timeout).await;
        let _ = events.send(VmEvent::HttpCallResponse { token, response });
    });
    memory::write_u32(c, token_out, token)?;
    Ok(status::OK)
}
