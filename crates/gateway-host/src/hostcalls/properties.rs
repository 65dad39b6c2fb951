//! `proxy_get_property` / `proxy_set_property`: the Envoy attributes plugins read
//! (route, cluster, source address, request fields, plugin identity).

use wasmtime::{Caller, Linker};

use super::macros::wrap;
use crate::abi::{self, status};
use crate::memory::{self, Fail};
use crate::state::{HostState, StreamData};

type R = Result<i32, Fail>;

pub fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wrap!(linker, "env", "proxy_get_property", get_property, (pp, pl, ptr_out, len_out));
    wrap!(linker, "env", "proxy_set_property", set_property, (pp, pl, vp, vl));
    Ok(())
}

/// Property paths come NUL-separated (`request\0path`); we look them up dot-joined.
fn path_string(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    String::from_utf8_lossy(trimmed).replace('\0', ".")
}

fn header<'a>(headers: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|(k, _)| k.as_slice() == name.as_bytes()).map(|(_, v)| v.as_slice())
}

fn int(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn stream_property(d: &StreamData, path: &str) -> Option<Vec<u8>> {
    if let Some(v) = d.properties.get(path.as_bytes()) {
        return Some(v.clone());
    }
    let req = |name: &str| header(&d.request_headers, name).map(<[u8]>::to_vec);
    let value = match path {
        "route_name" | "xds.route_name" => d.info.route_name.clone().into_bytes(),
        "cluster_name" | "xds.cluster_name" => d.info.cluster_name.clone().into_bytes(),
        "source.address" => d.info.source.to_string().into_bytes(),
        "source.port" => int(d.info.source.port() as i64),
        "destination.address" => d.info.destination.to_string().into_bytes(),
        "destination.port" => int(d.info.destination.port() as i64),
        "connection.id" | "request.stream_id" => int(d.info.id as i64),
        "request.path" => req(":path")?,
        "request.url_path" => {
            let p = req(":path")?;
            let end = p.iter().position(|b| *b == b'?').unwrap_or(p.len());
            p[..end].to_vec()
        }
        "request.query" => {
            let p = req(":path")?;
            match p.iter().position(|b| *b == b'?') {
                Some(i) => p[i + 1..].to_vec(),
                None => Vec::new(),
            }
        }
        "request.host" => req(":authority")?,
        "request.method" => req(":method")?,
        "request.scheme" => req(":scheme")?,
        "request.protocol" => b"HTTP/1.1".to_vec(),
        "request.id" => req("x-request-id")?,
        "request.useragent" => req("user-agent")?,
        "request.referer" => req("referer")?,
        "request.headers" => abi::encode_pairs(&d.request_headers),
        "response.headers" => abi::encode_pairs(&d.response_headers),
        "response.trailers" => abi::encode_pairs(&d.response_trailers),
        "response.code" => {
            let s = header(&d.response_headers, ":status")?;
            int(std::str::from_utf8(s).ok()?.parse().ok()?)
        }
        _ => {
            if let Some(name) = path.strip_prefix("request.headers.") {
                req(name)?
            } else if let Some(name) = path.strip_prefix("response.headers.") {
                header(&d.response_headers, name)?.to_vec()
            } else {
                return None;
            }
        }
    };
    Some(value)
}

fn lookup(state: &HostState, path: &str) -> Option<Vec<u8>> {
    match path {
        "plugin_name" => return Some(state.plugin().name.clone().into_bytes()),
        "plugin_root_id" => return Some(state.plugin().root_id.clone().into_bytes()),
        "plugin_vm_id" => return Some(Vec::new()),
        _ => {}
    }
    let stream = state.stream()?;
    let d = stream.data.borrow();
    stream_property(&d, path)
}

fn get_property(c: &mut Caller<'_, HostState>, pp: i32, pl: i32, ptr_out: i32, len_out: i32) -> R {
    let path = path_string(&memory::read(c, pp, pl)?);
    match lookup(c.data(), &path) {
        Some(v) => memory::return_bytes(c, &v, ptr_out, len_out),
        None => Ok(status::NOT_FOUND),
    }
}

fn set_property(c: &mut Caller<'_, HostState>, pp: i32, pl: i32, vp: i32, vl: i32) -> R {
    let path = path_string(&memory::read(c, pp, pl)?);
    let value = memory::read(c, vp, vl)?;
    // Envoy keeps properties in the stream's filter state: without a stream there is none.
    let Some(stream) = c.data().stream() else {
        return Ok(status::NOT_FOUND);
    };
    stream.data.borrow_mut().properties.insert(path.into_bytes(), value);
    Ok(status::OK)
}

#[cfg(test)]
mod tests {
    use super::path_string;

    #[test]
    fn paths_are_joined_with_dots() {
        assert_eq!(path_string(b"request\0path"), "request.path");
        assert_eq!(path_string(b"route_name\0"), "route_name");
    }
}
