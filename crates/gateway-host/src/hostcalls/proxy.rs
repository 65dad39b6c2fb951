//! Core proxy-wasm host calls: logging, time, ticks, effective context, stream control,
//! local responses, foreign functions and the gRPC stubs.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use super::macros::{unimplemented_call, wrap};
use crate::abi::{self, status};
use crate::memory::{self, Fail};
use crate::state::HostState;
use crate::values::LocalReply;
use crate::values::LogRecord;
use crate::values::VmEvent;

type R = Result<i32, Fail>;

pub fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wrap!(linker, "env", "proxy_log", log, (level, ptr, len));
    wrap!(linker, "env", "proxy_get_log_level", get_log_level, (out));
    wrap!(linker, "env", "proxy_get_current_time_nanoseconds", current_time, (out));
    wrap!(linker, "env", "proxy_set_tick_period_milliseconds", set_tick_period, (period));
    wrap!(linker, "env", "proxy_set_effective_context", set_effective_context, (id));
    wrap!(linker, "env", "proxy_continue_stream", continue_stream, (kind));
    wrap!(linker, "env", "proxy_continue_request", continue_request, ());
    wrap!(linker, "env", "proxy_continue_response", continue_response, ());
    wrap!(linker, "env", "proxy_close_stream", close_stream, (kind));
    wrap!(linker, "env", "proxy_clear_route_cache", ok0, ());
    wrap!(linker, "env", "proxy_done", done, ());
    wrap!(linker, "env", "proxy_send_local_response", send_local_response, (code, dp, dl, bp, bl, hp, hl, grpc));
    wrap!(linker, "env", "proxy_call_foreign_function", call_foreign_function, (np, nl, ap, al, rp, rl));
    wrap!(linker, "env", "proxy_get_status", get_status, (code_out, ptr_out, len_out));
    unimplemented_call!(linker, "env", "proxy_grpc_call", (a, b, c, d, e, f, g, h, i, j, k, l));
    unimplemented_call!(linker, "env", "proxy_grpc_stream", (a, b, c, d, e, f, g, h, i));
    unimplemented_call!(linker, "env", "proxy_grpc_send", (a, b, c, d));
    unimplemented_call!(linker, "env", "proxy_grpc_cancel", (a));
    unimplemented_call!(linker, "env", "proxy_grpc_close", (a));
    // Emscripten runtime helpers proxy-wasm-cpp-host also offers in `env`.
    linker.func_wrap("env", "pthread_equal", |_c: Caller<'_, HostState>, a: i32, b: i32| -> i32 { (a == b) as i32 })?;
    linker.func_wrap("env", "emscripten_notify_memory_growth", |_c: Caller<'_, HostState>, _index: i32| {})?;
    Ok(())
}

/// The highest log level (critical); larger levels are rejected with BadArgument.
const LOG_LEVEL_MAX: u32 = 5;

fn log(c: &mut Caller<'_, HostState>, level: i32, ptr: i32, len: i32) -> R {
    if level as u32 > LOG_LEVEL_MAX {
        return Ok(status::BAD_ARGUMENT);
    }
    let message = memory::read_string(c, ptr, len)?;
    emit_log(c.data_mut(), abi::log_level(level), message);
    Ok(status::OK)
}

/// Writes a plugin log line to the host log and the captured log records.
pub fn emit_log(state: &mut HostState, level: log::Level, message: String) {
    if state.is_configuring() && level <= log::Level::Warn {
        state.note_start_log(message.clone());
    }
    if level > state.services().log_filter {
        return;
    }
    log::log!(target: "wasm", level, "[{}] {}", state.plugin().name, message);
    state.shared().push_log(LogRecord { plugin: state.plugin().name.clone(), level, message });
}

fn get_log_level(c: &mut Caller<'_, HostState>, out: i32) -> R {
    let level = abi::abi_log_level(c.data().services().log_filter);
    memory::write_u32(c, out, level as u32)?;
    Ok(status::OK)
}

fn current_time(c: &mut Caller<'_, HostState>, out: i32) -> R {
    let now = c.data().shared().now_nanos();
    memory::write_u64(c, out, now)?;
    Ok(status::OK)
}

fn set_tick_period(c: &mut Caller<'_, HostState>, period: i32) -> R {
    let state = c.data_mut();
    let generation = state.tick_period().get().wrapping_add(1);
    state.tick_period().set(generation);
    let period = period as u32;
    if period > 0 {
        let cell = state.tick_period().clone();
        let events = state.events().clone();
        tokio::task::spawn_local(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(period as u64));
            interval.tick().await;
            loop {
                interval.tick().await;
                if cell.get() != generation || events.send(VmEvent::Tick).is_err() {
                    break;
                }
            }
        });
    }
    Ok(status::OK)
}

fn set_effective_context(c: &mut Caller<'_, HostState>, id: i32) -> R {
    if c.data_mut().switch_context(id as u32) { Ok(status::OK) } else { Ok(status::BAD_ARGUMENT) }
}

fn continue_stream(c: &mut Caller<'_, HostState>, kind: i32) -> R {
    let Some(stream) = c.data().stream() else {
        return Ok(status::BAD_ARGUMENT);
    };
    {
        let mut d = stream.data.borrow_mut();
        match kind {
            abi::stream::REQUEST => d.resume_request = true,
            abi::stream::RESPONSE => d.resume_response = true,
            _ => return Ok(status::BAD_ARGUMENT),
        }
    }
    stream.notify.notify_waiters();
    Ok(status::OK)
}

fn continue_request(c: &mut Caller<'_, HostState>) -> R {
    continue_stream(c, abi::stream::REQUEST)
}

fn continue_response(c: &mut Caller<'_, HostState>) -> R {
    continue_stream(c, abi::stream::RESPONSE)
}

fn close_stream(c: &mut Caller<'_, HostState>, kind: i32) -> R {
    let Some(stream) = c.data().stream() else {
        return Ok(status::BAD_ARGUMENT);
    };
    if kind != abi::stream::REQUEST && kind != abi::stream::RESPONSE {
        return Ok(status::BAD_ARGUMENT);
    }
    stream.data.borrow_mut().closed = true;
    stream.notify.notify_waiters();
    Ok(status::OK)
}

fn ok0(_c: &mut Caller<'_, HostState>) -> R {
    Ok(status::OK)
}

/// `proxy_done` only finishes a root context the host is shutting down (after its
/// `proxy_on_done` returned false). This host never shuts one down, so, like
/// proxy-wasm-cpp-host outside a shutdown, there is nothing to finish.
fn done(_c: &mut Caller<'_, HostState>) -> R {
    Ok(status::NOT_FOUND)
}

#[allow(clippy::too_many_arguments)]
fn send_local_response(
    c: &mut Caller<'_, HostState>,
    code: i32,
    dp: i32,
    dl: i32,
    bp: i32,
    bl: i32,
    hp: i32,
    hl: i32,
    _grpc: i32,
) -> R {
    let details = memory::read_string(c, dp, dl)?;
    let body = memory::read(c, bp, bl)?;
    let headers = memory::read(c, hp, hl)?;
    let Some(headers) = crate::abi::decode_pairs(&headers) else {
        return Ok(status::BAD_ARGUMENT);
    };
    let Some(stream) = c.data().stream() else {
        return Ok(status::BAD_ARGUMENT);
    };
    let status_code = u16::try_from(code).ok().filter(|s| (100..=999).contains(s));
    let Some(status_code) = status_code else {
        return Ok(status::BAD_ARGUMENT);
    };
    {
        let mut d = stream.data.borrow_mut();
        if d.local_reply.is_none() && !d.response_sent {
            d.local_reply = Some(LocalReply {
                status: status_code,
                headers: headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
                body,
                details,
            });
        }
    }
    stream.notify.notify_waiters();
    Ok(status::OK)
}

fn call_foreign_function(c: &mut Caller<'_, HostState>, np: i32, nl: i32, ap: i32, al: i32, rp: i32, rl: i32) -> R {
    let name = memory::read_string(c, np, nl)?;
    memory::check(c, ap, al)?;
    // No foreign function is registered, so the result pointers are never written.
    let _ = (rp, rl);
    emit_log(
        c.data_mut(),
        log::Level::Debug,
        format!("proxy_call_foreign_function: no foreign function named {name:?}"),
    );
    Ok(status::NOT_FOUND)
}

fn get_status(c: &mut Caller<'_, HostState>, code_out: i32, ptr_out: i32, len_out: i32) -> R {
    memory::write_u32(c, code_out, 0)?;
    memory::write_u32(c, ptr_out, 0)?;
    memory::write_u32(c, len_out, 0)?;
    Ok(status::OK)
}
