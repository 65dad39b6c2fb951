//! WASI preview1 (`wasi_snapshot_preview1`) as a proxy host offers it: stdout/stderr go to the
//! plugin log, clocks, randomness, empty args/environment, no files, `proc_exit` traps.

use std::sync::OnceLock;
use std::time::Instant;

use wasmtime::{Caller, Linker};

use super::proxy::emit_log;
use super::wrap;
use crate::vm::ProcExit;
use crate::vm::memory::{self, Fail};
use crate::vm::state::HostState;

const M: &str = "wasi_snapshot_preview1";
const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const INVAL: i32 = 28;
const NOSYS: i32 = 52;

type R = Result<i32, Fail>;

/// Maps a memory failure to the WASI `EFAULT` errno instead of a proxy-wasm status.
fn errno(r: R) -> R {
    match r {
        Err(Fail::Status(_)) => Ok(21),
        other => other,
    }
}

/// Registers stubs that take the given wasm parameter types and return `$ret`.
macro_rules! stub {
    ($linker:expr, $name:literal, $ret:expr, ($($t:ty),*)) => {
        $linker.func_wrap(M, $name, |_c: Caller<'_, HostState>, $(_: $t),*| -> i32 { $ret })?;
    };
}

pub fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wrap!(linker, "wasi_snapshot_preview1", "fd_write", fd_write, (fd, iovs, n, out));
    wrap!(linker, "wasi_snapshot_preview1", "args_sizes_get", zero_sizes, (a, b));
    wrap!(linker, "wasi_snapshot_preview1", "environ_sizes_get", zero_sizes, (a, b));
    wrap!(linker, "wasi_snapshot_preview1", "args_get", nothing2, (a, b));
    wrap!(linker, "wasi_snapshot_preview1", "environ_get", nothing2, (a, b));
    wrap!(linker, "wasi_snapshot_preview1", "random_get", random_get, (ptr, len));
    wrap!(linker, "wasi_snapshot_preview1", "clock_res_get", clock_res_get, (id, out));
    wrap!(linker, "wasi_snapshot_preview1", "fd_fdstat_get", fd_fdstat_get, (fd, out));
    wrap!(linker, "wasi_snapshot_preview1", "fd_read", fd_read, (fd, iovs, n, out));
    linker.func_wrap(
        M,
        "clock_time_get",
        |mut c: Caller<'_, HostState>, id: i32, _precision: i64, out: i32| -> wasmtime::Result<i32> {
            let now = match id {
                0 => c.data().shared.now_nanos(),
                1..=3 => {
                    static START: OnceLock<Instant> = OnceLock::new();
                    START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
                }
                _ => return Ok(INVAL),
            };
            memory::finish(errno(memory::write_u64(&mut c, out, now).map(|_| SUCCESS)))
        },
    )?;
    linker.func_wrap(M, "proc_exit", |_c: Caller<'_, HostState>, code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(ProcExit(code)))
    })?;
    stub!(linker, "sched_yield", SUCCESS, ());
    stub!(linker, "proc_raise", NOSYS, (i32));
    stub!(linker, "fd_close", BADF, (i32));
    stub!(linker, "fd_datasync", BADF, (i32));
    stub!(linker, "fd_sync", BADF, (i32));
    stub!(linker, "fd_advise", BADF, (i32, i64, i64, i32));
    stub!(linker, "fd_allocate", BADF, (i32, i64, i64));
    stub!(linker, "fd_fdstat_set_flags", BADF, (i32, i32));
    stub!(linker, "fd_fdstat_set_rights", BADF, (i32, i64, i64));
    stub!(linker, "fd_filestat_get", BADF, (i32, i32));
    stub!(linker, "fd_filestat_set_size", BADF, (i32, i64));
    stub!(linker, "fd_filestat_set_times", BADF, (i32, i64, i64, i32));
    stub!(linker, "fd_pread", BADF, (i32, i32, i32, i64, i32));
    stub!(linker, "fd_pwrite", BADF, (i32, i32, i32, i64, i32));
    stub!(linker, "fd_prestat_get", BADF, (i32, i32));
    stub!(linker, "fd_prestat_dir_name", BADF, (i32, i32, i32));
    stub!(linker, "fd_readdir", BADF, (i32, i32, i32, i64, i32));
    stub!(linker, "fd_renumber", BADF, (i32, i32));
    stub!(linker, "fd_seek", BADF, (i32, i64, i32, i32));
    stub!(linker, "fd_tell", BADF, (i32, i32));
    stub!(linker, "path_create_directory", BADF, (i32, i32, i32));
    stub!(linker, "path_filestat_get", BADF, (i32, i32, i32, i32, i32));
    stub!(linker, "path_filestat_set_times", BADF, (i32, i32, i32, i32, i64, i64, i32));
    stub!(linker, "path_link", BADF, (i32, i32, i32, i32, i32, i32, i32));
    stub!(linker, "path_open", BADF, (i32, i32, i32, i32, i32, i64, i64, i32, i32));
    stub!(linker, "path_readlink", BADF, (i32, i32, i32, i32, i32, i32));
    stub!(linker, "path_remove_directory", BADF, (i32, i32, i32));
    stub!(linker, "path_rename", BADF, (i32, i32, i32, i32, i32, i32));
    stub!(linker, "path_symlink", BADF, (i32, i32, i32, i32, i32));
    stub!(linker, "path_unlink_file", BADF, (i32, i32, i32));
    stub!(linker, "poll_oneoff", NOSYS, (i32, i32, i32, i32));
    stub!(linker, "sock_accept", BADF, (i32, i32, i32));
    stub!(linker, "sock_recv", BADF, (i32, i32, i32, i32, i32, i32));
    stub!(linker, "sock_send", BADF, (i32, i32, i32, i32, i32));
    stub!(linker, "sock_shutdown", BADF, (i32, i32));
    Ok(())
}

fn read_iovecs(c: &mut Caller<'_, HostState>, iovs: i32, n: i32) -> Result<Vec<u8>, Fail> {
    let mut out = Vec::new();
    for i in 0..n.max(0) {
        let entry = memory::read(c, iovs.wrapping_add(i * 8), 8)?;
        let ptr = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let len = i32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        out.extend_from_slice(&memory::read(c, ptr, len)?);
    }
    Ok(out)
}

fn fd_write(c: &mut Caller<'_, HostState>, fd: i32, iovs: i32, n: i32, out: i32) -> R {
    errno((|| {
        if fd != 1 && fd != 2 {
            return Ok(BADF);
        }
        let bytes = read_iovecs(c, iovs, n)?;
        memory::write_u32(c, out, bytes.len() as u32)?;
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches('\n');
        if !text.is_empty() {
            let level = if fd == 1 { log::Level::Info } else { log::Level::Error };
            emit_log(c.data_mut(), level, text.to_string());
        }
        Ok(SUCCESS)
    })())
}

fn fd_read(c: &mut Caller<'_, HostState>, fd: i32, _iovs: i32, _n: i32, out: i32) -> R {
    errno((|| {
        if fd != 0 {
            return Ok(BADF);
        }
        memory::write_u32(c, out, 0)?;
        Ok(SUCCESS)
    })())
}

fn zero_sizes(c: &mut Caller<'_, HostState>, a: i32, b: i32) -> R {
    errno((|| {
        memory::write_u32(c, a, 0)?;
        memory::write_u32(c, b, 0)?;
        Ok(SUCCESS)
    })())
}

fn nothing2(_c: &mut Caller<'_, HostState>, _a: i32, _b: i32) -> R {
    Ok(SUCCESS)
}

fn random_get(c: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> R {
    errno((|| {
        let mut bytes = vec![0u8; len.max(0) as usize];
        if getrandom::fill(&mut bytes).is_err() {
            return Ok(NOSYS);
        }
        memory::write(c, ptr, &bytes)?;
        Ok(SUCCESS)
    })())
}

fn clock_res_get(c: &mut Caller<'_, HostState>, id: i32, out: i32) -> R {
    errno((|| {
        if !(0..=3).contains(&id) {
            return Ok(INVAL);
        }
        memory::write_u64(c, out, 1)?;
        Ok(SUCCESS)
    })())
}

fn fd_fdstat_get(c: &mut Caller<'_, HostState>, fd: i32, out: i32) -> R {
    errno((|| {
        if !(0..=2).contains(&fd) {
            return Ok(BADF);
        }
        // filetype u8 (2 = character device), flags u16 (append for 1/2), rights u64 x2.
        let mut stat = [0u8; 24];
        stat[0] = 2;
        if fd != 0 {
            stat[2] = 1;
        }
        stat[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        memory::write(c, out, &stat)?;
        Ok(SUCCESS)
    })())
}
