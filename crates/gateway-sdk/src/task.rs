//! Detached tasks: work that runs on the plugin's root context and outlives the request that
//! started it, with a [`JoinHandle`] to await its result and a cancellation-safe way to undo it.
//!
//! When a request ends while its hook is pending, the SDK drops the hook's future, and with it
//! whatever the hook was awaiting. That is right for reads, and wrong for a call that changes
//! state in Redis: a reservation whose reply is lost is never refunded, a lock whose reply is
//! lost stays held until it expires. Run such calls with [`spawn`] and attach the undo with
//! [`JoinHandle::on_abandon`]: the call always completes (the late reply reaches its task), and
//! if the hook is gone by then, the undo gets the result.
//!
//! ```text
//! let decision = gateway_sdk::task::spawn(async move { quota.reserve(&key, estimate).await })
//!     .on_abandon(|decision| {
//!         if let Ok(ticket) = decision {
//!             gateway_sdk::task::spawn(async move { let _ = ticket.refund().await; });
//!         }
//!     })
//!     .await;
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::runtime;

/// What the task and its handle share.
struct JoinState<T> {
    output: Option<T>,
    waker: Option<Waker>,
    handle_dropped: bool,
    on_abandon: Option<Box<dyn FnOnce(T)>>,
}

/// Runs `future` as a task of the plugin's root context. It starts at once (or right after the
/// task that spawns it yields) and runs to completion whether or not the returned handle is
/// awaited or kept: dropping the handle detaches the task, it never cancels it.
///
/// A detached task must not touch request headers or bodies (it belongs to no stream); use it to
/// write caches, settle quotas and release locks.
pub fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
    let state = Rc::new(RefCell::new(JoinState { output: None, waker: None, handle_dropped: false, on_abandon: None }));
    let shared = state.clone();
    runtime::spawn(runtime::root_context(), async move {
        let output = future.await;
        let mut s = shared.borrow_mut();
        if s.handle_dropped {
            let undo = s.on_abandon.take();
            drop(s);
            if let Some(undo) = undo {
                undo(output);
            }
        } else {
            s.output = Some(output);
            let waker = s.waker.take();
            drop(s);
            if let Some(w) = waker {
                w.wake();
            }
        }
    });
    JoinHandle { state }
}

/// Awaits the result of a [`spawn`]ed task. Dropping it detaches the task.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> JoinHandle<T> {
    /// Gives the task's result to `undo` if this handle is dropped before taking it: the
    /// awaiting hook was cancelled (its stream ended) while the task ran, or between the task
    /// finishing and the hook resuming. Exactly one of "the awaiter gets the result" and
    /// "`undo` gets the result" happens.
    pub fn on_abandon(self, undo: impl FnOnce(T) + 'static) -> Self {
        self.state.borrow_mut().on_abandon = Some(Box::new(undo));
        self
    }

    /// Whether the task has finished (its result is waiting in this handle).
    pub fn is_finished(&self) -> bool {
        self.state.borrow().output.is_some()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.state.borrow_mut();
        match s.output.take() {
            Some(output) => {
                // Taken: nothing left to undo.
                s.on_abandon = None;
                Poll::Ready(output)
            }
            None => {
                if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    s.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let Ok(mut s) = self.state.try_borrow_mut() else { return };
        s.handle_dropped = true;
        s.waker = None;
        // Finished, but the awaiter never took the result: undo it now.
        if let Some(output) = s.output.take() {
            let undo = s.on_abandon.take();
            drop(s);
            if let Some(undo) = undo {
                undo(output);
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}
