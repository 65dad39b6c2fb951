//! The macros that register host functions on a `Linker<HostState>` (a file of their own so
//! the host call modules do not import their parent).

/// Registers `$f(&mut caller, args..) -> Result<i32, Fail>` as `module::name` taking i32 args.
macro_rules! wrap {
    ($linker:expr, $module:literal, $name:literal, $f:path, ($($a:ident),*)) => {
        $linker.func_wrap(
            $module,
            $name,
            |mut c: wasmtime::Caller<'_, $crate::state::HostState>, $($a: i32),*| -> wasmtime::Result<i32> {
                $crate::memory::finish($f(&mut c, $($a),*))
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
            |_c: wasmtime::Caller<'_, $crate::state::HostState>, $($a: i32),*| -> wasmtime::Result<i32> {
                $(let _ = $a;)*
                Ok($crate::abi::status::UNIMPLEMENTED)
            },
        )?;
    };
}
pub(crate) use unimplemented_call;
