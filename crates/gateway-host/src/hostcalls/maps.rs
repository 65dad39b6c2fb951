//! Header/trailer map and buffer host calls over the effective stream or the running callback.

use wasmtime::{Caller, Linker};

use super::macros::wrap;
use crate::abi::{self, buffer, map, status};
use crate::memory::{self, Fail};
use crate::state::{CallbackData, HostState};
use crate::values::Headers;

type R = Result<i32, Fail>;

pub fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wrap!(linker, "env", "proxy_get_header_map_pairs", get_pairs, (kind, ptr_out, len_out));
    wrap!(linker, "env", "proxy_set_header_map_pairs", set_pairs, (kind, ptr, len));
    wrap!(linker, "env", "proxy_get_header_map_size", get_size, (kind, out));
    wrap!(linker, "env", "proxy_get_header_map_value", get_value, (kind, kp, kl, ptr_out, len_out));
    wrap!(linker, "env", "proxy_replace_header_map_value", replace_value, (kind, kp, kl, vp, vl));
    wrap!(linker, "env", "proxy_add_header_map_value", add_value, (kind, kp, kl, vp, vl));
    wrap!(linker, "env", "proxy_remove_header_map_value", remove_value, (kind, kp, kl));
    wrap!(linker, "env", "proxy_get_buffer_bytes", get_buffer, (kind, start, max, ptr_out, len_out));
    wrap!(linker, "env", "proxy_get_buffer_status", get_buffer_status, (kind, len_out, flags_out));
    wrap!(linker, "env", "proxy_set_buffer_bytes", set_buffer, (kind, start, size, ptr, len));
    Ok(())
}

/// The largest header map type proxy-wasm-cpp-host accepts (HttpCallResponseTrailers); larger
/// types are rejected with BadArgument before any guest memory is read.
const MAP_TYPE_MAX: i32 = 7;

fn check_kind(kind: i32) -> Result<(), Fail> {
    if (0..=MAP_TYPE_MAX).contains(&kind) { Ok(()) } else { Err(Fail::Status(status::BAD_ARGUMENT)) }
}

/// Runs `f` on the map `kind` of the effective context; `Err(BadArgument)` when there is none.
fn with_map<T>(state: &mut HostState, kind: i32, f: impl FnOnce(&mut Headers) -> T) -> Result<T, Fail> {
    match kind {
        map::HTTP_CALL_RESPONSE_HEADERS | map::HTTP_CALL_RESPONSE_TRAILERS => match state.callback_mut() {
            CallbackData::Http(r) if kind == map::HTTP_CALL_RESPONSE_HEADERS => Ok(f(&mut r.headers)),
            CallbackData::Http(r) => Ok(f(&mut r.trailers)),
            _ => Err(Fail::Status(status::BAD_ARGUMENT)),
        },
        _ => {
            let stream = state.stream().ok_or(Fail::Status(status::BAD_ARGUMENT))?;
            let mut d = stream.data.borrow_mut();
            let m = match kind {
                map::HTTP_REQUEST_HEADERS => &mut d.request_headers,
                map::HTTP_REQUEST_TRAILERS => &mut d.request_trailers,
                map::HTTP_RESPONSE_HEADERS => &mut d.response_headers,
                map::HTTP_RESPONSE_TRAILERS => &mut d.response_trailers,
                _ => return Err(Fail::Status(status::BAD_ARGUMENT)),
            };
            Ok(f(m))
        }
    }
}

fn get_pairs(c: &mut Caller<'_, HostState>, kind: i32, ptr_out: i32, len_out: i32) -> R {
    check_kind(kind)?;
    // An empty map comes back as address 0 and size 0 (not an encoded count of 0).
    let bytes = with_map(c.data_mut(), kind, |m| if m.is_empty() { Vec::new() } else { abi::encode_pairs(m) })?;
    memory::return_bytes(c, &bytes, ptr_out, len_out)
}

fn set_pairs(c: &mut Caller<'_, HostState>, kind: i32, ptr: i32, len: i32) -> R {
    check_kind(kind)?;
    let bytes = memory::read(c, ptr, len)?;
    let Some(pairs) = abi::decode_pairs(&bytes) else {
        return Ok(status::BAD_ARGUMENT);
    };
    with_map(c.data_mut(), kind, |m| {
        *m = pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    })?;
    Ok(status::OK)
}

/// Envoy answers the map's byte size: the sum of its keys' and values' lengths.
fn get_size(c: &mut Caller<'_, HostState>, kind: i32, out: i32) -> R {
    check_kind(kind)?;
    let size = with_map(c.data_mut(), kind, |m| m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>())?;
    memory::write_u32(c, out, size as u32)?;
    Ok(status::OK)
}

fn get_value(c: &mut Caller<'_, HostState>, kind: i32, kp: i32, kl: i32, ptr_out: i32, len_out: i32) -> R {
    check_kind(kind)?;
    let key = memory::read(c, kp, kl)?.to_ascii_lowercase();
    let value = with_map(c.data_mut(), kind, |m| m.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))?;
    match value {
        Some(v) => memory::return_bytes(c, &v, ptr_out, len_out),
        None => Ok(status::NOT_FOUND),
    }
}

fn replace_value(c: &mut Caller<'_, HostState>, kind: i32, kp: i32, kl: i32, vp: i32, vl: i32) -> R {
    check_kind(kind)?;
    let key = memory::read(c, kp, kl)?.to_ascii_lowercase();
    let value = memory::read(c, vp, vl)?;
    with_map(c.data_mut(), kind, |m| match m.iter().position(|(k, _)| *k == key) {
        Some(i) => {
            m[i].1 = value;
            let mut j = i + 1;
            while j < m.len() {
                if m[j].0 == key {
                    m.remove(j);
                } else {
                    j += 1;
                }
            }
        }
        None => m.push((key, value)),
    })?;
    Ok(status::OK)
}

fn add_value(c: &mut Caller<'_, HostState>, kind: i32, kp: i32, kl: i32, vp: i32, vl: i32) -> R {
    check_kind(kind)?;
    let key = memory::read(c, kp, kl)?.to_ascii_lowercase();
    let value = memory::read(c, vp, vl)?;
    with_map(c.data_mut(), kind, |m| m.push((key, value)))?;
    Ok(status::OK)
}

fn remove_value(c: &mut Caller<'_, HostState>, kind: i32, kp: i32, kl: i32) -> R {
    check_kind(kind)?;
    let key = memory::read(c, kp, kl)?.to_ascii_lowercase();
    with_map(c.data_mut(), kind, |m| m.retain(|(k, _)| *k != key))?;
    Ok(status::OK)
}

/// Copies out the bytes of buffer `kind`, or `Err(status)` when it is not available now.
fn buffer_bytes(state: &HostState, kind: i32) -> Result<Vec<u8>, i32> {
    match kind {
        buffer::HTTP_REQUEST_BODY | buffer::HTTP_RESPONSE_BODY => {
            let stream = state.stream().ok_or(status::BAD_ARGUMENT)?;
            let d = stream.data.borrow();
            Ok(if kind == buffer::HTTP_REQUEST_BODY { d.request_body.clone() } else { d.response_body.clone() })
        }
        buffer::HTTP_CALL_RESPONSE_BODY => match state.callback() {
            CallbackData::Http(r) => Ok(r.body.clone()),
            _ => Err(status::NOT_FOUND),
        },
        buffer::REDIS_CALL_RESPONSE => match state.callback() {
            CallbackData::Redis(r) => Ok(r.clone()),
            _ => Err(status::NOT_FOUND),
        },
        buffer::VM_CONFIGURATION => Ok(state.plugin().vm_config.clone()),
        buffer::PLUGIN_CONFIGURATION => Ok(state.plugin().config.clone()),
        buffer::CALL_DATA => Ok(state.foreign_args().to_vec()),
        buffer::DOWNSTREAM_DATA | buffer::UPSTREAM_DATA | buffer::GRPC_RECEIVE_BUFFER => Err(status::NOT_FOUND),
        _ => Err(status::BAD_ARGUMENT),
    }
}

fn get_buffer(c: &mut Caller<'_, HostState>, kind: i32, start: i32, max: i32, ptr_out: i32, len_out: i32) -> R {
    let bytes = match buffer_bytes(c.data(), kind) {
        Ok(b) => b,
        Err(s) => return Ok(s),
    };
    let start = start as u32 as usize;
    let max = max as u32 as usize;
    if start.checked_add(max).is_none() {
        return Ok(status::BAD_ARGUMENT);
    }
    let start = start.min(bytes.len());
    let end = (start + max).min(bytes.len());
    if end == start {
        // Like proxy-wasm-cpp-host: nothing to copy, address 0 and size 0 written.
        memory::write_u32(c, ptr_out, 0)?;
        memory::write_u32(c, len_out, 0)?;
        return Ok(status::OK);
    }
    memory::return_bytes(c, &bytes[start..end], ptr_out, len_out)
}

fn get_buffer_status(c: &mut Caller<'_, HostState>, kind: i32, len_out: i32, flags_out: i32) -> R {
    let len = match buffer_bytes(c.data(), kind) {
        Ok(b) => b.len(),
        Err(s) => return Ok(s),
    };
    memory::write_u32(c, len_out, len as u32)?;
    memory::write_u32(c, flags_out, 0)?;
    Ok(status::OK)
}

fn set_buffer(c: &mut Caller<'_, HostState>, kind: i32, start: i32, size: i32, ptr: i32, len: i32) -> R {
    let data = memory::read(c, ptr, len)?;
    if kind != buffer::HTTP_REQUEST_BODY && kind != buffer::HTTP_RESPONSE_BODY {
        return Ok(if kind == buffer::HTTP_CALL_RESPONSE_BODY { status::BAD_ARGUMENT } else { status::NOT_FOUND });
    }
    let Some(stream) = c.data().stream() else {
        return Ok(status::BAD_ARGUMENT);
    };
    let mut d = stream.data.borrow_mut();
    let body = if kind == buffer::HTTP_REQUEST_BODY { &mut d.request_body } else { &mut d.response_body };
    let (start, size) = (start as u32 as usize, size as u32 as usize);
    // Envoy's rules: prepend, replace all, or append; nothing else.
    if start == 0 {
        if size == 0 {
            body.splice(0..0, data);
        } else if size >= body.len() {
            *body = data;
        } else {
            return Ok(status::BAD_ARGUMENT);
        }
    } else if start >= body.len() {
        body.extend_from_slice(&data);
    } else {
        return Ok(status::BAD_ARGUMENT);
    }
    Ok(status::OK)
}
