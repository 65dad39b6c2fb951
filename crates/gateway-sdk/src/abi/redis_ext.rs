//! Higress's Redis extension of the proxy-wasm ABI: `proxy_redis_init`, `proxy_redis_call`,
//! the `proxy_on_redis_call_response` export and the buffer-type-9 read of a reply.

use crate::runtime::{self, CallOutcome};

/// Buffer type under which the host exposes a Redis reply during the callback.
const REDIS_CALL_RESPONSE_BUFFER: u32 = 9;
const WASM_RESULT_OK: u32 = 0;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_redis_init(
        service_ptr: *const u8,
        service_len: usize,
        username_ptr: *const u8,
        username_len: usize,
        password_ptr: *const u8,
        password_len: usize,
        timeout_ms: u32,
    ) -> u32;

    fn proxy_redis_call(
        service_ptr: *const u8,
        service_len: usize,
        query_ptr: *const u8,
        query_len: usize,
        token_out: *mut u32,
    ) -> u32;
}

/// Stores the Redis configuration for `cluster` (connections open lazily). Returns the host's
/// WasmResult code on failure: 2 for an unknown cluster.
pub(super) fn init(cluster: &str, username: &str, password: &str, timeout_ms: u32) -> Result<(), u32> {
    // SAFETY: every pointer/length pair describes a live, borrowed byte slice for the duration of
    // the call; the host copies what it keeps.
    let code = unsafe {
        proxy_redis_init(
            cluster.as_ptr(),
            cluster.len(),
            username.as_ptr(),
            username.len(),
            password.as_ptr(),
            password.len(),
            timeout_ms,
        )
    };
    if code == WASM_RESULT_OK { Ok(()) } else { Err(code) }
}

/// Sends one RESP command; returns the callback token or the host's WasmResult code.
pub(super) fn call(cluster: &str, query: &[u8]) -> Result<u32, u32> {
    let mut token: u32 = 0;
    // SAFETY: `cluster` and `query` are live slices for the duration of the call and `token` is a
    // valid, aligned `u32` the host writes once.
    let code = unsafe { proxy_redis_call(cluster.as_ptr(), cluster.len(), query.as_ptr(), query.len(), &mut token) };
    if code == WASM_RESULT_OK { Ok(token) } else { Err(code) }
}

/// Copies the reply of the Redis call being delivered. Only valid during the callback.
fn read_response(size: usize) -> Option<Vec<u8>> {
    if size == 0 {
        return Some(Vec::new());
    }
    super::wasm_host::buffer_bytes(REDIS_CALL_RESPONSE_BUFFER, 0, size)
}

/// Called by the host when a Redis reply (or failure) for `token` is ready.
/// `context_id` is the plugin's root context; `status` 0 = reply in buffer 9, 1 = network error.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_redis_call_response(context_id: u32, token: u32, status: u32, response_size: usize) {
    runtime::enter(context_id);
    let body = if status == 0 { read_response(response_size) } else { None };
    runtime::complete(token, CallOutcome::Redis { status, body });
}
