//! Numeric constants of the proxy-wasm ABI 0.2.1 and of Higress's Redis extension.

/// `WasmResult` values returned by every host call (the ABI's whole table, used or not).
#[allow(dead_code)]
pub mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const BAD_ARGUMENT: i32 = 2;
    pub const SERIALIZATION_FAILURE: i32 = 3;
    pub const PARSE_FAILURE: i32 = 4;
    pub const INVALID_MEMORY_ACCESS: i32 = 6;
    pub const EMPTY: i32 = 7;
    pub const CAS_MISMATCH: i32 = 8;
    pub const INTERNAL_FAILURE: i32 = 10;
    pub const UNIMPLEMENTED: i32 = 12;
}

/// Buffer types for `proxy_get_buffer_bytes` / `proxy_set_buffer_bytes`.
pub mod buffer {
    pub const HTTP_REQUEST_BODY: i32 = 0;
    pub const HTTP_RESPONSE_BODY: i32 = 1;
    pub const DOWNSTREAM_DATA: i32 = 2;
    pub const UPSTREAM_DATA: i32 = 3;
    pub const HTTP_CALL_RESPONSE_BODY: i32 = 4;
    pub const GRPC_RECEIVE_BUFFER: i32 = 5;
    pub const VM_CONFIGURATION: i32 = 6;
    pub const PLUGIN_CONFIGURATION: i32 = 7;
    pub const CALL_DATA: i32 = 8;
    /// Higress: the raw RESP reply, readable only during `proxy_on_redis_call_response`.
    pub const REDIS_CALL_RESPONSE: i32 = 9;
}

/// Header map types.
pub mod map {
    pub const HTTP_REQUEST_HEADERS: i32 = 0;
    pub const HTTP_REQUEST_TRAILERS: i32 = 1;
    pub const HTTP_RESPONSE_HEADERS: i32 = 2;
    pub const HTTP_RESPONSE_TRAILERS: i32 = 3;
    pub const HTTP_CALL_RESPONSE_HEADERS: i32 = 6;
    pub const HTTP_CALL_RESPONSE_TRAILERS: i32 = 7;
}

/// Stream types for `proxy_continue_stream` / `proxy_close_stream`.
pub mod stream {
    pub const REQUEST: i32 = 0;
    pub const RESPONSE: i32 = 1;
}

/// Header hook actions (what `proxy_on_*_headers` return).
pub mod header_action {
    pub const CONTINUE: i32 = 0;
    pub const STOP_ITERATION: i32 = 1;
    pub const CONTINUE_AND_END_STREAM: i32 = 2;
}

/// Body hook actions (what `proxy_on_*_body` return).
pub mod data_action {
    pub const CONTINUE: i32 = 0;
}

/// What a trailers hook returns (0 Continue, 1 StopIteration).
pub mod trailers_action {
    pub const CONTINUE: i32 = 0;
}

/// Log levels as the guest passes them.
pub fn log_level(level: i32) -> log::Level {
    match level {
        0 => log::Level::Trace,
        1 => log::Level::Debug,
        2 => log::Level::Info,
        3 => log::Level::Warn,
        _ => log::Level::Error,
    }
}

/// The ABI level numbering of a `log::LevelFilter` (trace 0 .. critical 5).
pub fn abi_log_level(filter: log::LevelFilter) -> i32 {
    match filter {
        log::LevelFilter::Trace => 0,
        log::LevelFilter::Debug => 1,
        log::LevelFilter::Info => 2,
        log::LevelFilter::Warn => 3,
        log::LevelFilter::Error => 4,
        log::LevelFilter::Off => 5,
    }
}

/// ABI version exports a module may carry; at least one must be present.
pub const ABI_VERSION_EXPORTS: [&str; 3] =
    ["proxy_abi_version_0_2_0", "proxy_abi_version_0_2_1", "proxy_abi_version_0_2_100"];

/// Encodes header pairs in the proxy-wasm map serialization:
/// `u32 count`, then `(u32 key_len, u32 value_len)` per pair, then each key and value NUL-terminated.
pub fn encode_pairs(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut size = 4 + pairs.len() * 8;
    for (k, v) in pairs {
        size += k.len() + v.len() + 2;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Decodes the proxy-wasm map serialization; `None` when the bytes are malformed.
pub fn decode_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let read_u32 = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = read_u32(0)?;
    let mut sizes = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        sizes.push((read_u32(4 + i * 8)?, read_u32(8 + i * 8)?));
    }
    let mut at = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut pairs = Vec::with_capacity(sizes.len());
    for (klen, vlen) in sizes {
        let k = bytes.get(at..at.checked_add(klen)?)?.to_vec();
        at += klen + 1;
        let v = bytes.get(at..at.checked_add(vlen)?)?.to_vec();
        at += vlen + 1;
        pairs.push((k, v));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip() {
        let pairs = vec![(b":path".to_vec(), b"/a".to_vec()), (b"x".to_vec(), Vec::new())];
        assert_eq!(decode_pairs(&encode_pairs(&pairs)), Some(pairs));
        assert_eq!(decode_pairs(&[5, 0, 0, 0]), None);
    }
}
