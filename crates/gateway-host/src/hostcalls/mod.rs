//! The host functions a plugin can import: proxy-wasm 0.2.1 (module `env`), Higress's Redis
//! calls and WASI preview1. Each host call is a plain function over `Caller<HostState>`.

mod http_call;
mod maps;
mod properties;
mod proxy;
mod redis;
mod shared;
mod wasi;

use wasmtime::{Engine, Linker};

use crate::vm::state::HostState;

/// Registers `$f(&mut caller, args..) -> Result<i32, Fail>` as `module::name` taking i32 args.
macro_rules! wrap {
    ($linker:expr, $module:literal, $name:literal, $f:path, ($($a:ident),*)) => {
        $linker.func_wrap(
            $module,
            $name,
            |mut c: wasmtime::Caller<'_, $crate::vm::state::HostState>, $($a: i32),*| -> wasmtime::Result<i32> {
                $crate::vm::memory::finish($f(&mut c, $($a),*))
            },
        )?;
    };
}
pub(crate) use wrap;

/// Registers a host function that takes `i32` arguments and always answers
/// `Unimplemented` (e.g. the gRPC calls this host does not offer).
macro_rules! unimplemented_call {
    ($linker:expr, $module:literal, $name:literal, ($($a:ident),*)) => {
        $linker.func_wrap(
            $module,
            $name,
            |_c: wasmtime::Caller<'_, $crate::vm::state::HostState>, $($a: i32),*| -> wasmtime::Result<i32> {
                $(let _ = $a;)*
                Ok($crate::abi::status::UNIMPLEMENTED)
            },
        )?;
    };
}
pub(crate) use unimplemented_call;

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
