//! The proxy-wasm ABI (0.2.1) functions the SDK imports from the host, as raw declarations,
//! with the enum values they take. Only `wasm_host` and `redis_ext` call them.

/// `WasmResult::Ok`.
pub(super) const OK: u32 = 0;

/// `MapType` values.
pub(super) mod map {
    pub const REQUEST_HEADERS: u32 = 0;
    pub const REQUEST_TRAILERS: u32 = 1;
    pub const RESPONSE_HEADERS: u32 = 2;
    pub const RESPONSE_TRAILERS: u32 = 3;
    pub const HTTP_CALL_RESPONSE_HEADERS: u32 = 6;
}

/// `BufferType` values (Higress adds 9, the Redis call response: see `redis_ext`).
pub(super) mod buffer {
    pub const REQUEST_BODY: u32 = 0;
    pub const RESPONSE_BODY: u32 = 1;
    pub const HTTP_CALL_RESPONSE_BODY: u32 = 4;
    pub const PLUGIN_CONFIGURATION: u32 = 7;
}

/// `StreamType` values of `proxy_continue_stream`.
pub(super) mod stream {
    pub const REQUEST: u32 = 0;
    pub const RESPONSE: u32 = 1;
}

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    pub(super) fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;

    pub(super) fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;

    pub(super) fn proxy_set_tick_period_milliseconds(period: u32) -> u32;

    pub(super) fn proxy_set_effective_context(context_id: u32) -> u32;

    pub(super) fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;

    pub(super) fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32;

    pub(super) fn proxy_get_header_map_pairs(map_type: u32, return_data: *mut *mut u8, return_size: *mut usize) -> u32;

    pub(super) fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;

    pub(super) fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;

    pub(super) fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;

    pub(super) fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;

    pub(super) fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;

    pub(super) fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;

    pub(super) fn proxy_continue_stream(stream_type: u32) -> u32;

    pub(super) fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;

    pub(super) fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;

    pub(super) fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;

    pub(super) fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;

    pub(super) fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
}
