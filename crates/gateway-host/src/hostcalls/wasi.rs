//! WASI preview1 as proxy-wasm-cpp-host (Envoy, Higress) offers it, under both
//! `wasi_snapshot_preview1` and `wasi_unstable`: stdout/stderr go to the plugin log, clocks,
//! randomness, empty args/environment, no files or sockets. Every call answers the errno and
//! writes the outputs that proxy-wasm-cpp-host's `src/exports.cc` does (docs/gateway-host.md
//! lists the few places where this host differs).

use std::sync::OnceLock;
use std::time::Instant;

use wasmtime::{Caller, Linker};

use super::proxy::emit_log;
use crate::memory;
use crate::state::HostState;
use crate::values::ProcExit;

/// WASI errno values (`__WASI_ERRNO_*`).
pub mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const NOTDIR: i32 = 20;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const NOENT: i32 = 44;
    pub const NOSYS: i32 = 52;
    pub const NOTSUP: i32 = 58;
}

use errno::*;

/// The largest `random_get` request proxy-wasm-cpp-host serves (64 KiB); larger ones get EINVAL.
const RANDOM_GET_MAX: i32 = 64 * 1024;

type C<'a> = Caller<'a, HostState>;

/// Registers `$f` under both WASI module names, like proxy-wasm-cpp-host.
macro_rules! wasi {
    ($linker:expr, $name:literal, $f:expr) => {
        $linker.func_wrap("wasi_snapshot_preview1", $name, $f)?;
        $linker.func_wrap("wasi_unstable", $name, $f)?;
    };
}

pub fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasi!(linker, "fd_write", fd_write);
    wasi!(linker, "fd_pwrite", fd_pwrite);
    wasi!(linker, "fd_read", |_c: C<'_>, _fd: i32, _iovs: i32, _n: i32, _out: i32| NOSYS);
    wasi!(linker, "fd_pread", |_c: C<'_>, _fd: i32, _iovs: i32, _n: i32, _off: i64, _out: i32| NOSYS);
    wasi!(linker, "fd_seek", |_c: C<'_>, _fd: i32, _off: i64, _whence: i32, _out: i32| {
        // Envoy logs it (at trace level) and answers success without writing the offset.
        log::trace!("wasi_unstable fd_seek");
        SUCCESS
    });
    wasi!(linker, "fd_close", |_c: C<'_>, _fd: i32| {
        log::trace!("wasi_unstable fd_close");
        SUCCESS
    });
    wasi!(linker, "fd_fdstat_get", fd_fdstat_get);
    wasi!(linker, "fd_fdstat_set_flags", |_c: C<'_>, _fd: i32, _flags: i32| NOSYS);
    wasi!(linker, "fd_fdstat_set_rights", |_c: C<'_>, fd: i32, _base: i64, _inheriting: i64| stdio_only(fd));
    wasi!(linker, "fd_advise", |_c: C<'_>, _fd: i32, _off: i64, _len: i64, _advice: i32| SUCCESS);
    wasi!(linker, "fd_allocate", |_c: C<'_>, fd: i32, _off: i64, _len: i64| stdio_only(fd));
    wasi!(linker, "fd_datasync", |_c: C<'_>, fd: i32| stdio_only(fd));
    wasi!(linker, "fd_sync", |_c: C<'_>, fd: i32| stdio_only(fd));
    wasi!(linker, "fd_filestat_get", |_c: C<'_>, _fd: i32, _out: i32| BADF);
    wasi!(linker, "fd_filestat_set_size", |_c: C<'_>, fd: i32, _size: i64| stdio_only(fd));
    wasi!(linker, "fd_filestat_set_times", |_c: C<'_>, fd: i32, _atim: i64, _mtim: i64, _flags: i32| {
        stdio_only(fd)
    });
    wasi!(linker, "fd_prestat_get", |_c: C<'_>, _fd: i32, _out: i32| BADF);
    wasi!(linker, "fd_prestat_dir_name", |_c: C<'_>, _fd: i32, _path: i32, _len: i32| NOSYS);
    wasi!(linker, "fd_readdir", fd_readdir);
    wasi!(linker, "fd_renumber", |_c: C<'_>, fd: i32, to: i32| {
        if is_stdio(fd) && is_stdio(to) { NOTSUP } else { BADF }
    });
    wasi!(linker, "fd_tell", fd_tell);
    wasi!(linker, "path_open", |_c: C<'_>,
                                _fd: i32,
                                _dirflags: i32,
                                _path: i32,
                                _len: i32,
                                _oflags: i32,
                                _base: i64,
                                _inheriting: i64,
                                _fdflags: i32,
                                _out: i32| NOENT);
    wasi!(linker, "path_filestat_get", |_c: C<'_>, _fd: i32, _flags: i32, _path: i32, _len: i32, _out: i32| NOTSUP);
    wasi!(linker, "path_filestat_set_times", |_c: C<'_>,
                                              _fd: i32,
                                              _flags: i32,
                                              _path: i32,
                                              _len: i32,
                                              _atim: i64,
                                              _mtim: i64,
                                              _fst: i32| NOTSUP);
    wasi!(linker, "path_create_directory", |_c: C<'_>, _fd: i32, _path: i32, _len: i32| NOTSUP);
    wasi!(linker, "path_remove_directory", |_c: C<'_>, _fd: i32, _path: i32, _len: i32| NOTSUP);
    wasi!(linker, "path_unlink_file", |_c: C<'_>, _fd: i32, _path: i32, _len: i32| NOTSUP);
    wasi!(linker, "path_link", |_c: C<'_>, _a: i32, _b: i32, _c2: i32, _d: i32, _e: i32, _f: i32, _g: i32| NOTSUP);
    wasi!(linker, "path_rename", |_c: C<'_>, _a: i32, _b: i32, _c2: i32, _d: i32, _e: i32, _f: i32| NOTSUP);
    wasi!(linker, "path_symlink", |_c: C<'_>, _a: i32, _b: i32, _c2: i32, _d: i32, _e: i32| NOTSUP);
    wasi!(linker, "path_readlink", path_readlink);
    wasi!(linker, "sock_accept", sock_accept);
    wasi!(linker, "sock_recv", sock_recv);
    wasi!(linker, "sock_send", sock_send);
    wasi!(linker, "sock_shutdown", |_c: C<'_>, _fd: i32, _how: i32| NOTSUP);
    wasi!(linker, "args_sizes_get", zero_sizes);
    wasi!(linker, "environ_sizes_get", zero_sizes);
    wasi!(linker, "args_get", |_c: C<'_>, _argv: i32, _buf: i32| SUCCESS);
    // No environment variables are configured, so there is nothing to write.
    wasi!(linker, "environ_get", |_c: C<'_>, _environ: i32, _buf: i32| SUCCESS);
    wasi!(linker, "clock_time_get", clock_time_get);
    wasi!(linker, "clock_res_get", clock_res_get);
    wasi!(linker, "random_get", random_get);
    wasi!(linker, "sched_yield", |_c: C<'_>| SUCCESS);
    wasi!(linker, "poll_oneoff", poll_oneoff);
    wasi!(linker, "proc_exit", |_c: C<'_>, code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(ProcExit(code)))
    });
    Ok(())
}

fn is_stdio(fd: i32) -> bool {
    fd == 1 || fd == 2
}

/// Success for stdout/stderr, EBADF for any other descriptor.
fn stdio_only(fd: i32) -> i32 {
    if is_stdio(fd) { SUCCESS } else { BADF }
}

/// Writes guest bytes or answers EFAULT.
fn put(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    memory::write(c, ptr, bytes).map_err(|_| FAULT)
}

fn put_u32(c: &mut C<'_>, ptr: i32, v: u32) -> Result<(), i32> {
    put(c, ptr, &v.to_le_bytes())
}

fn put_u64(c: &mut C<'_>, ptr: i32, v: u64) -> Result<(), i32> {
    put(c, ptr, &v.to_le_bytes())
}

/// The errno of a call body: its own answer, or the EFAULT a failed write produced.
fn done(r: Result<i32, i32>) -> i32 {
    r.unwrap_or_else(|e| e)
}

/// Gathers the iovecs of `fd_write`/`fd_pwrite` to stdout/stderr into the plugin log;
/// returns the number of bytes written.
fn writev(c: &mut C<'_>, fd: i32, iovs: i32, n: i32) -> Result<u32, i32> {
    let level = match fd {
        1 => log::Level::Info,
        2 => log::Level::Error,
        _ => return Err(BADF),
    };
    let mut text = Vec::new();
    for i in 0..n.max(0) {
        let entry = memory::read(c, iovs.wrapping_add(i.wrapping_mul(8)), 8).map_err(|_| FAULT)?;
        let ptr = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let len = i32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        if len != 0 {
            text.extend_from_slice(&memory::read(c, ptr, len).map_err(|_| FAULT)?);
        }
    }
    let written = text.len() as u32;
    if text.last() == Some(&b'\n') {
        text.pop();
    }
    if written != 0 {
        emit_log(c.data_mut(), level, String::from_utf8_lossy(&text).into_owned());
    }
    Ok(written)
}

fn fd_write(mut c: C<'_>, fd: i32, iovs: i32, n: i32, out: i32) -> i32 {
    done((|| {
        let written = writev(&mut c, fd, iovs, n)?;
        put_u32(&mut c, out, written)?;
        Ok(SUCCESS)
    })())
}

fn fd_pwrite(c: C<'_>, fd: i32, iovs: i32, n: i32, _offset: i64, out: i32) -> i32 {
    fd_write(c, fd, iovs, n, out)
}

fn fd_fdstat_get(mut c: C<'_>, fd: i32, out: i32) -> i32 {
    if !is_stdio(fd) {
        return BADF;
    }
    // filetype 0, flags 0, rights_base FD_WRITE (64), rights_inheriting 0. Like
    // proxy-wasm-cpp-host, a write to a bad address is not reported.
    let mut stat = [0u8; 24];
    stat[8..16].copy_from_slice(&64u64.to_le_bytes());
    let _ = put(&mut c, out, &stat);
    SUCCESS
}

fn fd_readdir(mut c: C<'_>, _fd: i32, _buf: i32, _len: i32, _cookie: i64, out: i32) -> i32 {
    done(put_u32(&mut c, out, 0).map(|_| NOTDIR))
}

fn fd_tell(mut c: C<'_>, fd: i32, out: i32) -> i32 {
    if !is_stdio(fd) {
        return BADF;
    }
    done(put_u64(&mut c, out, 0).map(|_| SUCCESS))
}

fn path_readlink(mut c: C<'_>, _fd: i32, _path: i32, _len: i32, _buf: i32, _buf_len: i32, out: i32) -> i32 {
    done(put_u32(&mut c, out, 0).map(|_| NOTSUP))
}

fn sock_accept(mut c: C<'_>, _fd: i32, _flags: i32, out: i32) -> i32 {
    done(put_u32(&mut c, out, 0).map(|_| NOTSUP))
}

fn sock_recv(mut c: C<'_>, _fd: i32, _data: i32, _len: i32, _flags: i32, out_len: i32, out_flags: i32) -> i32 {
    done((|| {
        put_u32(&mut c, out_len, 0)?;
        put(&mut c, out_flags, &0u16.to_le_bytes())?;
        Ok(NOTSUP)
    })())
}

fn sock_send(mut c: C<'_>, _fd: i32, _data: i32, _len: i32, _flags: i32, out: i32) -> i32 {
    done(put_u32(&mut c, out, 0).map(|_| NOTSUP))
}

fn zero_sizes(mut c: C<'_>, count: i32, size: i32) -> i32 {
    done((|| {
        put_u32(&mut c, count, 0)?;
        put_u32(&mut c, size, 0)?;
        Ok(SUCCESS)
    })())
}

fn clock_time_get(mut c: C<'_>, id: i32, _precision: i64, out: i32) -> i32 {
    let now = match id {
        0 => c.data().shared().now_nanos(),
        1 => {
            static START: OnceLock<Instant> = OnceLock::new();
            START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
        }
        // The CPU-time clocks are not offered.
        _ => return NOTSUP,
    };
    done(put_u64(&mut c, out, now).map(|_| SUCCESS))
}

fn clock_res_get(mut c: C<'_>, id: i32, out: i32) -> i32 {
    if id != 0 && id != 1 {
        return NOTSUP;
    }
    done(put_u64(&mut c, out, 1).map(|_| SUCCESS))
}

fn random_get(mut c: C<'_>, ptr: i32, len: i32) -> i32 {
    if len as u32 > RANDOM_GET_MAX as u32 {
        return INVAL;
    }
    if len == 0 {
        return SUCCESS;
    }
    let mut bytes = vec![0u8; len as usize];
    if getrandom::fill(&mut bytes).is_err() {
        return NOSYS;
    }
    done(put(&mut c, ptr, &bytes).map(|_| SUCCESS))
}

/// Nothing is polled: no events (`nevents = 0`) and success, which Go's wasip1 scheduler
/// requires (it treats any error as fatal).
fn poll_oneoff(mut c: C<'_>, _subscriptions: i32, _events: i32, _n: i32, nevents: i32) -> i32 {
    done(put_u32(&mut c, nevents, 0).map(|_| SUCCESS))
}
