//! The single-threaded executor: runs hook futures, routes host callbacks (Redis replies,
//! HTTP-call responses) by token to the task that awaits them, and wakes sleeping tasks from
//! the host's tick (`proxy_on_tick`), which runs only while some task sleeps.
//!
//! A proxy-wasm VM is single-threaded and the host calls back into it, so there is no reactor:
//! a task is polled when it starts and again each time a callback addressed to it arrives.
//! A task belongs to a context (an HTTP stream or the root); before it is polled the SDK makes
//! that context the host's effective context, so header and body calls act on the right stream.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::abi::host;
use crate::log::{LogLevel, write_log};

/// Identifies a spawned task.
pub(crate) type TaskId = u64;

/// What a host callback delivered for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    /// A Redis callback: `status` 0 with the raw reply, or 1 (network error/timeout) without.
    Redis { status: u32, body: Option<Vec<u8>> },
    /// An HTTP-call callback: the response headers (empty when the call failed) and body.
    Http { headers: Vec<(String, String)>, body: Vec<u8> },
}

/// The slot a pending call future watches; filled by [`complete`].
pub(crate) type CallSlot = Rc<RefCell<Option<CallOutcome>>>;

struct Task {
    context_id: u32,
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

struct Waiter {
    task: Option<TaskId>,
    slot: CallSlot,
}

/// A sleeping task: woken by the first tick at or after its deadline.
struct Timer {
    deadline_ms: u64,
    task: Option<TaskId>,
    fired: Rc<Cell<bool>>,
}

/// The tick period asked of the host while any task sleeps: sleeps end up to this late.
pub(crate) const TICK_MS: u32 = 10;

#[derive(Default)]
struct Runtime {
    tasks: HashMap<TaskId, Task>,
    waiters: HashMap<u32, Waiter>,
    timers: Vec<Timer>,
    next_task: TaskId,
}

thread_local! {
    static RUNTIME: RefCell<Runtime> = RefCell::new(Runtime::default());
    static CURRENT: Cell<Option<TaskId>> = const { Cell::new(None) };
    static CURRENT_CONTEXT: Cell<Option<u32>> = const { Cell::new(None) };
    static ROOT_CONTEXT: Cell<u32> = const { Cell::new(0) };
}

/// Records the plugin's root context id (detached tasks run under it).
pub(crate) fn set_root_context(id: u32) {
    ROOT_CONTEXT.with(|c| c.set(id));
}

/// The plugin's root context id.
pub(crate) fn root_context() -> u32 {
    ROOT_CONTEXT.with(Cell::get)
}

/// Spawns `future` for `context_id` and polls it once. Returns its id and whether it finished.
pub(crate) fn spawn(context_id: u32, future: impl Future<Output = ()> + 'static) -> (TaskId, bool) {
    let id = RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        rt.next_task += 1;
        let id = rt.next_task;
        rt.tasks.insert(id, Task { context_id, future: Some(Box::pin(future)) });
        id
    });
    let finished = poll_task(id);
    (id, finished)
}

/// Drops a task (its stream ended). Calls it was awaiting complete later and are ignored.
pub(crate) fn cancel(task: TaskId) {
    let removed = RUNTIME.with(|rt| rt.borrow_mut().tasks.remove(&task));
    // The future is dropped here, outside the runtime borrow: its destructors may touch it.
    drop(removed);
}

/// Whether a task is still alive.
pub(crate) fn is_alive(task: TaskId) -> bool {
    RUNTIME.with(|rt| rt.borrow().tasks.contains_key(&task))
}

/// Records that the current task awaits the callback for `token`; returns the slot to watch.
pub(crate) fn register(token: u32) -> CallSlot {
    let slot: CallSlot = Rc::new(RefCell::new(None));
    let task = CURRENT.with(Cell::get);
    RUNTIME.with(|rt| {
        rt.borrow_mut().waiters.insert(token, Waiter { task, slot: slot.clone() });
    });
    slot
}

/// Delivers a callback: fills the waiting call's slot and polls its task.
/// Unknown tokens and tokens of tasks that already ended are logged at debug and dropped.
pub(crate) fn complete(token: u32, outcome: CallOutcome) {
    let waiter = RUNTIME.with(|rt| rt.borrow_mut().waiters.remove(&token));
    let Some(waiter) = waiter else {
        write_log(LogLevel::Debug, format_args!("dropping callback for unknown token {token}"));
        return;
    };
    *waiter.slot.borrow_mut() = Some(outcome);
    match waiter.task {
        Some(task) if is_alive(task) => {
            poll_task(task);
        }
        _ => {
            write_log(LogLevel::Debug, format_args!("dropping late callback for token {token}: its request has ended"))
        }
    }
}

fn poll_task(id: TaskId) -> bool {
    let taken = RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        rt.tasks.get_mut(&id).and_then(|t| t.future.take().map(|f| (t.context_id, f)))
    });
    let Some((context_id, mut future)) = taken else {
        // Not found, or already being polled (a nested poll cannot happen in a proxy-wasm VM).
        return false;
    };
    host::set_effective_context(context_id);
    let previous = CURRENT.with(|c| c.replace(Some(id)));
    let previous_context = CURRENT_CONTEXT.with(|c| c.replace(Some(context_id)));
    let mut cx = Context::from_waker(Waker::noop());
    let poll = future.as_mut().poll(&mut cx);
    CURRENT.with(|c| c.set(previous));
    CURRENT_CONTEXT.with(|c| c.set(previous_context));
    // A task spawned from inside another task's poll: give the outer task its stream back.
    if let Some(outer) = previous_context.filter(|&outer| outer != context_id) {
        host::set_effective_context(outer);
    }
    match poll {
        Poll::Ready(()) => {
            RUNTIME.with(|rt| rt.borrow_mut().tasks.remove(&id));
            true
        }
        Poll::Pending => {
            RUNTIME.with(|rt| {
                if let Some(task) = rt.borrow_mut().tasks.get_mut(&id) {
                    task.future = Some(future);
                }
            });
            false
        }
    }
}

/// Puts the current task to sleep until `deadline_ms` (host clock); returns the flag the tick
/// sets. The first sleeper turns the host's tick on.
pub(crate) fn add_timer(deadline_ms: u64) -> Rc<Cell<bool>> {
    let fired = Rc::new(Cell::new(false));
    let task = CURRENT.with(Cell::get);
    let first = RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        rt.timers.push(Timer { deadline_ms, task, fired: fired.clone() });
        rt.timers.len() == 1
    });
    if first {
        host::set_tick_period(TICK_MS);
    }
    fired
}

/// The host's tick: wakes every task whose deadline has passed, and turns the tick off once
/// nobody sleeps. Timers of tasks that ended are dropped.
pub(crate) fn on_tick(now_ms: u64) {
    let due: Vec<Timer> = RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        let (due, waiting): (Vec<Timer>, Vec<Timer>) = rt.timers.drain(..).partition(|t| t.deadline_ms <= now_ms);
        rt.timers = waiting;
        due
    });
    for timer in due {
        timer.fired.set(true);
        if let Some(task) = timer.task.filter(|&t| is_alive(t)) {
            poll_task(task);
        }
    }
    // Polled tasks may have gone back to sleep; only an empty list turns the tick off.
    if RUNTIME.with(|rt| rt.borrow().timers.is_empty()) {
        host::set_tick_period(0);
    }
}

/// Number of live tasks and pending callbacks (for tests and diagnostics).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn stats() -> (usize, usize) {
    RUNTIME.with(|rt| {
        let rt = rt.borrow();
        (rt.tasks.len(), rt.waiters.len())
    })
}

/// Resets all tasks and registrations (the native test host starts each test clean).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn reset() {
    let old = RUNTIME.with(|rt| std::mem::take(&mut *rt.borrow_mut()));
    drop(old);
}

/// A future that resolves when the callback for `token` arrives.
///
/// Dropping it early (its task was cancelled) leaves the registration in place, so the callback,
/// which the host delivers exactly once, is recognised as late and dropped.
pub(crate) struct PendingCall {
    slot: CallSlot,
}

impl PendingCall {
    pub(crate) fn new(token: u32) -> Self {
        PendingCall { slot: register(token) }
    }
}

impl Future for PendingCall {
    type Output = CallOutcome;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<CallOutcome> {
        match self.slot.borrow_mut().take() {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        }
    }
}
