//! Binds a [`Plugin`] to the `proxy-wasm` crate's dispatcher: root and HTTP contexts that
//! forward every callback to the SDK's driver and runtime.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext as PwHttpContext, RootContext};
use proxy_wasm::types::{Action as PwAction, ContextType, LogLevel as PwLevel};

use super::host;
use crate::driver::{Action, RootState, StreamDriver};
use crate::plugin::Plugin;
use crate::runtime::{self, CallOutcome};

unsafe extern "C" {
    /// Runs the module's static constructors (wasi-libc), as a reactor's `_initialize` must.
    fn __wasm_call_ctors();
}

/// Entry point behind [`crate::export_plugin!`]: registers `P` with the dispatcher.
pub fn start<P: Plugin>() {
    // SAFETY: called exactly once, from the module's `_initialize` export, before any other
    // code of the module runs; this is what the linker expects of a reactor module.
    unsafe { __wasm_call_ctors() };
    proxy_wasm::set_log_level(PwLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(Root::<P> { context_id, state: Rc::new(RootState::new()) })
    });
}

fn action(a: Action) -> PwAction {
    match a {
        Action::Continue => PwAction::Continue,
        Action::Pause => PwAction::Pause,
    }
}

/// Delivers an HTTP-call response to the runtime, whichever context the dispatcher chose.
fn deliver_http_call(token: u32, body_size: usize) {
    let headers = host::http_call_response_headers();
    let body = if body_size == 0 { Vec::new() } else { host::http_call_response_body(body_size).unwrap_or_default() };
    runtime::complete(token, CallOutcome::Http { headers, body });
}

struct Root<P: Plugin> {
    context_id: u32,
    state: Rc<RootState<P>>,
}

impl<P: Plugin> Context for Root<P> {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        deliver_http_call(token, body_size);
    }
}

impl<P: Plugin> RootContext for Root<P> {
    fn on_configure(&mut self, _size: usize) -> bool {
        runtime::set_root_context(self.context_id);
        let bytes = host::plugin_configuration().unwrap_or_default();
        match self.state.configure(&bytes) {
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

    fn on_tick(&mut self) {
        runtime::enter(self.context_id);
        runtime::on_tick(crate::time::now_millis());
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn PwHttpContext>> {
        Some(Box::new(Stream::<P> { driver: StreamDriver::new(context_id, &self.state) }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream<P: Plugin> {
    driver: StreamDriver<P>,
}

impl<P: Plugin> Context for Stream<P> {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        deliver_http_call(token, body_size);
    }

    fn on_done(&mut self) -> bool {
        self.driver.on_done();
        true
    }
}

impl<P: Plugin> PwHttpContext for Stream<P> {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> PwAction {
        action(self.driver.on_request_headers(end_of_stream))
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> PwAction {
        action(self.driver.on_request_body(size, end_of_stream))
    }

    fn on_http_request_trailers(&mut self, _n: usize) -> PwAction {
        action(self.driver.on_request_trailers())
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> PwAction {
        action(self.driver.on_response_headers(end_of_stream))
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> PwAction {
        action(self.driver.on_response_body(size, end_of_stream))
    }

    fn on_http_response_trailers(&mut self, _n: usize) -> PwAction {
        action(self.driver.on_response_trailers())
    }
}
