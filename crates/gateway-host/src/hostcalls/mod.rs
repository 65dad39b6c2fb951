//! The host functions a plugin can import: proxy-wasm 0.2.1 (module `env`), Higress's Redis
//! calls and WASI preview1. Each host call is a plain function over `Caller<HostState>`.

mod http_call;
mod macros;
mod maps;
mod properties;
mod proxy;
mod redis;
mod shared;
mod wasi;

use wasmtime::{Engine, Linker};

use crate::state::HostState;

/// A linker with every host function this host provides.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    proxy::add(&mut linker)?;
    maps::add(&mut linker)?;
    properties::add(&mut linker)?;
    shared::add(&mut linker)?;
    http_call::add(&mut linker)?;
    redis::add(&mut linker)?;
    wasi::add(&mut linker)?;
    Ok(linker)
}
