//! Worker-local mutable state shared by the requests of one VM (caches, counters), and
//! detached tasks that outlive the request that started them.

use std::cell::RefCell;
use std::future::Future;

/// Mutable state shared by every request on this worker (one VM per worker thread).
///
/// Access is through a closure, so a borrow can never be held across an `.await`.
#[derive(Debug, Default)]
pub struct WorkerState<T>(RefCell<T>);

impl<T> WorkerState<T> {
    /// Wraps the initial state.
    pub fn new(value: T) -> Self {
        WorkerState(RefCell::new(value))
    }

    /// Runs `f` with mutable access to the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

/// Runs `future` as a task of the plugin's root context: it keeps running after the request
/// that spawned it ends (e.g. writing a response to a cache, settling a quota). It starts at
/// once and runs until its first pending call. It must not touch request headers or bodies.
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    let root = crate::runtime::root_context();
    let _ = crate::runtime::spawn(root, future);
}
