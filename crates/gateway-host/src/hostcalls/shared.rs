//! Shared data (with CAS), shared queues and metrics host calls.

use wasmtime::{Caller, Linker};

use super::macros::wrap;
use crate::abi::status;
use crate::memory::{self, Fail};
use crate::state::HostState;

type R = Result<i32, Fail>;

pub fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wrap!(linker, "env", "proxy_get_shared_data", get_shared_data, (kp, kl, ptr_out, len_out, cas_out));
    wrap!(linker, "env", "proxy_set_shared_data", set_shared_data, (kp, kl, vp, vl, cas));
    wrap!(linker, "env", "proxy_register_shared_queue", register_queue, (np, nl, id_out));
    wrap!(linker, "env", "proxy_resolve_shared_queue", resolve_queue, (vp, vl, np, nl, id_out));
    wrap!(linker, "env", "proxy_enqueue_shared_queue", enqueue, (id, vp, vl));
    wrap!(linker, "env", "proxy_dequeue_shared_queue", dequeue, (id, ptr_out, len_out));
    wrap!(linker, "env", "proxy_define_metric", define_metric, (kind, np, nl, id_out));
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut c: Caller<'_, HostState>, id: i32, offset: i64| -> wasmtime::Result<i32> {
            Ok(metric_op(&mut c, id, |m| m.value = m.value.wrapping_add(offset)))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |mut c: Caller<'_, HostState>, id: i32, value: i64| -> wasmtime::Result<i32> {
            Ok(metric_op(&mut c, id, |m| m.value = value))
        },
    )?;
    wrap!(linker, "env", "proxy_get_metric", get_metric, (id, out));
    Ok(())
}

fn get_shared_data(c: &mut Caller<'_, HostState>, kp: i32, kl: i32, ptr_out: i32, len_out: i32, cas_out: i32) -> R {
    let key = memory::read(c, kp, kl)?;
    let Some((value, cas)) = c.data().shared().get_data(&key) else {
        return Ok(status::NOT_FOUND);
    };
    memory::write_u32(c, cas_out, cas)?;
    memory::return_bytes(c, &value, ptr_out, len_out)
}

fn set_shared_data(c: &mut Caller<'_, HostState>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32) -> R {
    let key = memory::read(c, kp, kl)?;
    let value = memory::read(c, vp, vl)?;
    if c.data().shared().set_data(&key, &value, cas as u32) { Ok(status::OK) } else { Ok(status::CAS_MISMATCH) }
}

fn register_queue(c: &mut Caller<'_, HostState>, np: i32, nl: i32, id_out: i32) -> R {
    let name = memory::read_string(c, np, nl)?;
    memory::check(c, id_out, 4)?;
    let state = c.data();
    let owner = (state.events().clone(), state.root_context_id());
    let id = state.shared().register_queue(&state.plugin().root_id, &name, owner);
    memory::write_u32(c, id_out, id)?;
    Ok(status::OK)
}

fn resolve_queue(c: &mut Caller<'_, HostState>, vp: i32, vl: i32, np: i32, nl: i32, id_out: i32) -> R {
    let vm_id = memory::read_string(c, vp, vl)?;
    let name = memory::read_string(c, np, nl)?;
    // We run every plugin with an empty vm_id; queues are keyed by root id instead.
    let shared = c.data().shared().clone();
    let id = shared.resolve_queue(&vm_id, &name).or_else(|| shared.resolve_queue(&c.data().plugin().root_id, &name));
    match id {
        Some(id) => {
            memory::write_u32(c, id_out, id)?;
            Ok(status::OK)
        }
        None => Ok(status::NOT_FOUND),
    }
}

fn enqueue(c: &mut Caller<'_, HostState>, id: i32, vp: i32, vl: i32) -> R {
    let value = memory::read(c, vp, vl)?;
    if c.data().shared().enqueue(id as u32, &value) { Ok(status::OK) } else { Ok(status::NOT_FOUND) }
}

fn dequeue(c: &mut Caller<'_, HostState>, id: i32, ptr_out: i32, len_out: i32) -> R {
    match c.data().shared().dequeue(id as u32) {
        Err(()) => Ok(status::NOT_FOUND),
        Ok(None) => Ok(status::EMPTY),
        Ok(Some(v)) => memory::return_bytes(c, &v, ptr_out, len_out),
    }
}

fn define_metric(c: &mut Caller<'_, HostState>, kind: i32, np: i32, nl: i32, id_out: i32) -> R {
    let name = memory::read_string(c, np, nl)?;
    if !(0..=2).contains(&kind) {
        return Ok(status::BAD_ARGUMENT);
    }
    memory::check(c, id_out, 4)?;
    let id = c.data().shared().define_metric(kind as u32, &name);
    memory::write_u32(c, id_out, id)?;
    Ok(status::OK)
}

fn metric_op(c: &mut Caller<'_, HostState>, id: i32, f: impl FnOnce(&mut crate::values::Metric)) -> i32 {
    if c.data().shared().with_metric(id as u32, f) { status::OK } else { status::NOT_FOUND }
}

fn get_metric(c: &mut Caller<'_, HostState>, id: i32, out: i32) -> R {
    let mut value = None;
    c.data().shared().with_metric(id as u32, |m| value = Some(m.value));
    match value {
        Some(v) => {
            memory::write_u64(c, out, v as u64)?;
            Ok(status::OK)
        }
        None => Ok(status::NOT_FOUND),
    }
}
