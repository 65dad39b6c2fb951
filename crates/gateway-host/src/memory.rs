//! Bounds-checked access to a guest's linear memory from host calls, and returning
//! host-owned bytes to the guest through its allocator.

use wasmtime::{Caller, Extern, Memory};

use crate::abi::status;
use crate::state::HostState;

/// A host call's early exit: a `WasmResult` to return, or a trap.
pub enum Fail {
    Status(i32),
    Trap(wasmtime::Error),
}

impl From<wasmtime::Error> for Fail {
    fn from(e: wasmtime::Error) -> Self {
        Fail::Trap(e)
    }
}

/// Converts a host call body's result into what the guest sees.
pub fn finish(r: Result<i32, Fail>) -> wasmtime::Result<i32> {
    match r {
        Ok(s) => Ok(s),
        Err(Fail::Status(s)) => Ok(s),
        Err(Fail::Trap(e)) => Err(e),
    }
}

fn memory(caller: &mut Caller<'_, HostState>) -> Result<Memory, Fail> {
    if let Some(memory) = caller.data().guest_memory() {
        return Ok(memory);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(Fail::Status(status::INVALID_MEMORY_ACCESS)),
    }
}

fn range(ptr: i32, len: i32, size: usize) -> Result<std::ops::Range<usize>, Fail> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize).ok_or(Fail::Status(status::INVALID_MEMORY_ACCESS))?;
    if end > size {
        return Err(Fail::Status(status::INVALID_MEMORY_ACCESS));
    }
    Ok(start..end)
}

/// Copies `len` guest bytes at `ptr`.
pub fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<Vec<u8>, Fail> {
    let mem = memory(caller)?;
    let data = mem.data(&caller);
    let r = range(ptr, len, data.len())?;
    Ok(data[r].to_vec())
}

/// Reads guest bytes as (lossy) UTF-8.
pub fn read_string(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<String, Fail> {
    Ok(String::from_utf8_lossy(&read(caller, ptr, len)?).into_owned())
}

/// Writes bytes at a guest address.
pub fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> Result<(), Fail> {
    let mem = memory(caller)?;
    let data = mem.data_mut(&mut *caller);
    let r = range(ptr, bytes.len() as i32, data.len())?;
    data[r].copy_from_slice(bytes);
    Ok(())
}

pub fn write_u32(caller: &mut Caller<'_, HostState>, ptr: i32, v: u32) -> Result<(), Fail> {
    write(caller, ptr, &v.to_le_bytes())
}

pub fn write_u64(caller: &mut Caller<'_, HostState>, ptr: i32, v: u64) -> Result<(), Fail> {
    write(caller, ptr, &v.to_le_bytes())
}

/// Checks that `len` bytes at `ptr` are inside memory without copying.
pub fn check(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<(), Fail> {
    let mem = memory(caller)?;
    let size = mem.data_size(&caller);
    range(ptr, len, size).map(|_| ())
}

/// Returns host-owned bytes to the guest the way proxy-wasm-cpp-host's `copyToPointerSize`
/// does: empty bytes are written as address 0 and size 0 without calling the guest allocator;
/// otherwise the guest allocates `bytes.len()` bytes (its `malloc` export, else
/// `proxy_on_memory_allocate`), the bytes are copied there and the address and size are
/// written to the two out pointers.
///
/// Never asking the allocator for 0 bytes matters: the Go SDKs' `proxy_on_memory_allocate`
/// returns `&make([]byte, size)[0]`, which panics for size 0, and wasm-go recovers that panic
/// in the outer hook across this host call, which corrupts the Go runtime (the next goroutine
/// switch traps with `indirect call type mismatch`).
pub fn return_bytes(caller: &mut Caller<'_, HostState>, bytes: &[u8], ptr_out: i32, len_out: i32) -> Result<i32, Fail> {
    let mut addr = 0;
    if !bytes.is_empty() {
        let alloc = match caller.data().guest_allocator() {
            Some(alloc) => alloc,
            None => caller
                .get_export("malloc")
                .or_else(|| caller.get_export("proxy_on_memory_allocate"))
                .and_then(Extern::into_func)
                .ok_or(Fail::Status(status::INVALID_MEMORY_ACCESS))?
                .typed::<i32, i32>(&*caller)
                .map_err(|_| Fail::Status(status::INVALID_MEMORY_ACCESS))?,
        };
        addr = alloc.call(&mut *caller, bytes.len() as i32)?;
        if addr == 0 {
            return Err(Fail::Status(status::INVALID_MEMORY_ACCESS));
        }
        write(caller, addr, bytes)?;
    }
    write_u32(caller, ptr_out, addr as u32)?;
    write_u32(caller, len_out, bytes.len() as u32)?;
    Ok(status::OK)
}
