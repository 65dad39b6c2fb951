//! The module's side of the proxy-wasm ABI (0.2.1): the callbacks the host calls, routed to
//! the plugin's root state and to one [`StreamDriver`] per HTTP stream.
//!
//! The exports are plain functions; the plugin type is known only to [`start`], which leaves a
//! [`Contexts<P>`] behind a `&'static dyn` for them. Context ids come from the host, so the
//! tables are [`IdMap`]s.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::host;
use crate::driver::{Action, RootState, StreamDriver};
use crate::id_map::IdMap;
use crate::plugin::Plugin;
use crate::runtime::{self, CallOutcome};

unsafe extern "C" {
    /// Runs the module's static constructors (wasi-libc), as a reactor's `_initialize` must.
    fn __wasm_call_ctors();
}

/// What the exports need of the registered plugin, whatever its type.
trait Callbacks {
    fn create(&self, context_id: u32, parent_id: u32);
    fn configure(&self, root_id: u32) -> bool;
    fn stream(&self, context_id: u32, call: &mut dyn FnMut(&mut dyn Stream) -> Action) -> Action;
    fn done(&self, context_id: u32);
    fn delete(&self, context_id: u32);
}

/// The per-stream callbacks, for [`Callbacks::stream`].
trait Stream {
    fn request_headers(&mut self, end_of_stream: bool) -> Action;
    fn request_body(&mut self, size: usize, end_of_stream: bool) -> Action;
    fn request_trailers(&mut self) -> Action;
    fn response_headers(&mut self, end_of_stream: bool) -> Action;
    fn response_body(&mut self, size: usize, end_of_stream: bool) -> Action;
    fn response_trailers(&mut self) -> Action;
}

impl<P: Plugin> Stream for StreamDriver<P> {
    fn request_headers(&mut self, end_of_stream: bool) -> Action {
        self.on_request_headers(end_of_stream)
    }
    fn request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.on_request_body(size, end_of_stream)
    }
    fn request_trailers(&mut self) -> Action {
        self.on_request_trailers()
    }
    fn response_headers(&mut self, end_of_stream: bool) -> Action {
        self.on_response_headers(end_of_stream)
    }
    fn response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.on_response_body(size, end_of_stream)
    }
    fn response_trailers(&mut self) -> Action {
        self.on_response_trailers()
    }
}

type ById<V> = IdMap<u32, V>;

/// The root contexts (one per plugin configuration the host creates) and live streams.
struct Contexts<P: Plugin> {
    roots: RefCell<ById<Rc<RootState<P>>>>,
    streams: RefCell<ById<StreamDriver<P>>>,
}

impl<P: Plugin> Callbacks for Contexts<P> {
    fn create(&self, context_id: u32, parent_id: u32) {
        if parent_id == 0 {
            self.roots.borrow_mut().insert(context_id, Rc::new(RootState::new()));
            return;
        }
        let root = self.roots.borrow().get(&parent_id).cloned();
        if let Some(root) = root {
            let driver = StreamDriver::new(context_id, &root);
            self.streams.borrow_mut().insert(context_id, driver);
        }
    }

    fn configure(&self, root_id: u32) -> bool {
        runtime::set_root_context(root_id);
        let Some(root) = self.roots.borrow().get(&root_id).cloned() else { return false };
        let bytes = host::plugin_configuration().unwrap_or_default();
        match root.configure(&bytes) {
            Ok(()) => {
                crate::info!("{}: configuration loaded", P::NAME);
                true
            }
            Err(e) => {
                crate::error!("{e}");
                false
            }
        }
    }

    fn stream(&self, context_id: u32, call: &mut dyn FnMut(&mut dyn Stream) -> Action) -> Action {
        // A callback never arrives while another of this VM runs (the host calls in one at a
        // time), so the table is free; if a host ever re-entered, the stream just continues.
        let Ok(mut streams) = self.streams.try_borrow_mut() else { return Action::Continue };
        match streams.get_mut(&context_id) {
            Some(driver) => call(driver),
            None => Action::Continue,
        }
    }

    fn done(&self, context_id: u32) {
        let Ok(mut streams) = self.streams.try_borrow_mut() else { return };
        if let Some(driver) = streams.get_mut(&context_id) {
            driver.on_done();
        }
    }

    fn delete(&self, context_id: u32) {
        let removed = self.streams.try_borrow_mut().ok().and_then(|mut s| s.remove(&context_id));
        // Dropped outside the borrow: dropping a driver may cancel tasks.
        drop(removed);
        let root = self.roots.try_borrow_mut().ok().and_then(|mut r| r.remove(&context_id));
        drop(root);
    }
}

thread_local! {
    static REGISTERED: Cell<Option<&'static dyn Callbacks>> = const { Cell::new(None) };
}

/// Entry point behind [`crate::export_plugin!`]: registers `P` for the exports.
pub fn start<P: Plugin>() {
    // SAFETY: called exactly once, from the module's `_initialize` export, before any other
    // code of the module runs; this is what the linker expects of a reactor module.
    unsafe { __wasm_call_ctors() };
    let contexts: &'static Contexts<P> =
        Box::leak(Box::new(Contexts { roots: RefCell::new(ById::default()), streams: RefCell::new(ById::default()) }));
    REGISTERED.with(|r| r.set(Some(contexts)));
}

fn registered() -> Option<&'static dyn Callbacks> {
    REGISTERED.with(Cell::get)
}

/// The ABI's `Action`: 0 continues, 1 pauses.
fn action(a: Action) -> u32 {
    match a {
        Action::Continue => 0,
        Action::Pause => 1,
    }
}

fn on_stream(context_id: u32, mut call: impl FnMut(&mut dyn Stream) -> Action) -> u32 {
    action(registered().map_or(Action::Continue, |r| r.stream(context_id, &mut call)))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host allocates the buffers it hands to the module here (a `Vec<u8>` of exactly
/// `size` bytes, which `wasm_host::take_host_buffer` takes back).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buffer: Vec<u8> = Vec::with_capacity(size);
    let data = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    data
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_id: u32) {
    if let Some(r) = registered() {
        r.create(context_id, parent_id);
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_configuration_size: usize) -> bool {
    true
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(root_id: u32, _configuration_size: usize) -> bool {
    registered().is_some_and(|r| r.configure(root_id))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_tick(root_id: u32) {
    runtime::enter(root_id);
    runtime::on_tick(crate::time::now_millis());
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_headers(context_id: u32, _headers: usize, end_of_stream: bool) -> u32 {
    on_stream(context_id, |s| s.request_headers(end_of_stream))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_body(context_id: u32, size: usize, end_of_stream: bool) -> u32 {
    on_stream(context_id, |s| s.request_body(size, end_of_stream))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, _trailers: usize) -> u32 {
    on_stream(context_id, |s| s.request_trailers())
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_headers(context_id: u32, _headers: usize, end_of_stream: bool) -> u32 {
    on_stream(context_id, |s| s.response_headers(end_of_stream))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_body(context_id: u32, size: usize, end_of_stream: bool) -> u32 {
    on_stream(context_id, |s| s.response_body(size, end_of_stream))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_trailers(context_id: u32, _trailers: usize) -> u32 {
    on_stream(context_id, |s| s.response_trailers())
}

/// The stream ended (streams) or the VM is shutting down (roots): always done at once.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_done(context_id: u32) -> bool {
    if let Some(r) = registered() {
        r.done(context_id);
    }
    true
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    if let Some(r) = registered() {
        r.delete(context_id);
    }
}

/// An HTTP call's answer, for whichever context made it: delivered by token.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_http_call_response(
    context_id: u32,
    token: u32,
    _headers: usize,
    body_size: usize,
    _trailers: usize,
) {
    runtime::enter(context_id);
    let headers = host::http_call_response_headers();
    let body = if body_size == 0 { Vec::new() } else { host::http_call_response_body(body_size).unwrap_or_default() };
    runtime::complete(token, CallOutcome::Http { headers, body });
}
