//! Worker-local mutable state shared by the requests of one VM (caches, counters).

use std::cell::RefCell;

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
