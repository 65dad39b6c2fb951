//! The single-threaded executor: a ready queue fed by real [`Waker`]s, tasks tied to a context
//! (an HTTP stream or the root), host callbacks (Redis replies, HTTP-call responses) routed by
//! token to the future that awaits them, and timers ended by the host's tick.
//!
//! A proxy-wasm VM is single-threaded and only runs when the host calls it, so there is no
//! reactor thread: every entry point (a hook starting, a callback arriving, a tick) fills slots,
//! wakes the wakers registered on them, and then drains the ready queue before returning to the
//! host. Any `Future` that honours the `Waker` contract works inside a task: `join_all` over
//! any number of futures, `FuturesUnordered`, channels, awaiting another task.
//!
//! Before a task is polled the SDK makes its context the host's effective context, so header
//! and body calls act on the right stream; after draining, the context the entry point had is
//! restored.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::abi::host;
use crate::id_map::IdMap;
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

/// Task ids woken since the last drain. Shared with every waker (wakers must be `Send + Sync`,
/// so this is a mutex, uncontended in a single-threaded VM).
#[derive(Default)]
struct ReadyQueue(Mutex<VecDeque<TaskId>>);

impl ReadyQueue {
    fn push(&self, id: TaskId) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back(id);
        }
    }

    fn pop(&self) -> Option<TaskId> {
        self.0.lock().ok().and_then(|mut q| q.pop_front())
    }
}

/// The waker of one task: waking pushes the task onto the ready queue (once until it is polled).
struct TaskWaker {
    id: TaskId,
    queued: AtomicBool,
    queue: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue.push(self.id);
        }
    }
}

struct Task {
    context_id: u32,
    waker: Arc<TaskWaker>,
    /// `None` while the task is being polled.
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

/// A pending host call: the outcome once delivered, and who to wake.
#[derive(Default)]
struct Waiter {
    outcome: Option<CallOutcome>,
    waker: Option<Waker>,
}

/// A sleeping future: woken by the first tick at or after its deadline.
struct Timer {
    deadline_ms: u64,
    waker: Option<Waker>,
    fired: bool,
}

/// The tick period asked of the host while any task sleeps: sleeps end up to this late.
pub(crate) const TICK_MS: u32 = 10;

#[derive(Default)]
struct Runtime {
    tasks: IdMap<TaskId, Task>,
    waiters: IdMap<u32, Waiter>,
    timers: IdMap<u64, Timer>,
    next_task: TaskId,
    next_timer: u64,
    ready: Arc<ReadyQueue>,
}

thread_local! {
    static RUNTIME: RefCell<Runtime> = RefCell::new(Runtime::default());
    /// Whether the ready queue is being drained (spawns and wakes then only queue).
    static DRAINING: Cell<bool> = const { Cell::new(false) };
    /// The task being polled, if any.
    static CURRENT: Cell<Option<TaskId>> = const { Cell::new(None) };
    /// The host's effective context as the SDK last set it (restored after a drain).
    static EFFECTIVE: Cell<u32> = const { Cell::new(0) };
    static ROOT_CONTEXT: Cell<u32> = const { Cell::new(0) };
}

/// Records the plugin's root context id (detached tasks run under it).
pub(crate) fn set_root_context(id: u32) {
    ROOT_CONTEXT.with(|c| c.set(id));
    EFFECTIVE.with(|c| c.set(id));
}

/// The plugin's root context id.
pub(crate) fn root_context() -> u32 {
    ROOT_CONTEXT.with(Cell::get)
}

/// Notes that the host has entered a callback of `context_id` (the host made it effective).
pub(crate) fn enter(context_id: u32) {
    EFFECTIVE.with(|c| c.set(context_id));
}

fn make_effective(context_id: u32) {
    host::set_effective_context(context_id);
    EFFECTIVE.with(|c| c.set(context_id));
}

/// Spawns `future` for `context_id` and runs the ready queue (unless already inside it, when
/// the task runs right after the current poll). Returns the task's id.
pub(crate) fn spawn(context_id: u32, future: impl Future<Output = ()> + 'static) -> TaskId {
    let id = spawn_queued(context_id, future);
    run_ready(true);
    id
}

/// Spawns `future` for `context_id` as ready, without running it: the caller records the id
/// first, then calls [`run_ready`].
pub(crate) fn spawn_queued(context_id: u32, future: impl Future<Output = ()> + 'static) -> TaskId {
    RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        rt.next_task += 1;
        let id = rt.next_task;
        let waker = Arc::new(TaskWaker { id, queued: AtomicBool::new(false), queue: rt.ready.clone() });
        waker.wake_by_ref();
        rt.tasks.insert(id, Task { context_id, waker, future: Some(Box::pin(future)) });
        id
    })
}

/// Drops a task (its stream ended). Calls it was awaiting are forgotten: their late callbacks
/// are dropped as unknown.
pub(crate) fn cancel(task: TaskId) {
    let removed = RUNTIME.with(|rt| rt.borrow_mut().tasks.remove(&task));
    // The future is dropped here, outside the runtime borrow: its destructors use the runtime.
    drop(removed);
}

/// Registers a pending call for `token`.
fn register(token: u32) {
    RUNTIME.with(|rt| {
        rt.borrow_mut().waiters.insert(token, Waiter::default());
    });
}

/// Delivers a callback: fills the waiting call's slot, wakes it and runs the ready queue.
/// Unknown tokens and tokens of calls nobody awaits any more are logged at debug and dropped.
pub(crate) fn complete(token: u32, outcome: CallOutcome) {
    let waker = RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        let waiter = rt.waiters.get_mut(&token)?;
        waiter.outcome = Some(outcome);
        Some(waiter.waker.take())
    });
    match waker {
        None => write_log(
            LogLevel::Debug,
            format_args!(
                "dropping callback for unknown token {token}: no call awaits it (a late callback of a call \
                 whose request ended, or a token never issued)"
            ),
        ),
        Some(waker) => {
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
    enter(root_context());
    run_ready(false);
}

/// Polls every ready task until none is ready. With `restore`, makes the context that was
/// effective before effective again (the caller goes on acting on its stream); callbacks that
/// return to the host right after need not.
pub(crate) fn run_ready(restore: bool) {
    if DRAINING.with(|d| d.replace(true)) {
        return;
    }
    let entered = EFFECTIVE.with(Cell::get);
    loop {
        let next = RUNTIME.with(|rt| rt.borrow().ready.pop());
        let Some(id) = next else { break };
        poll_task(id);
    }
    DRAINING.with(|d| d.set(false));
    if restore && EFFECTIVE.with(Cell::get) != entered {
        make_effective(entered);
    }
}

fn poll_task(id: TaskId) {
    let taken = RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        let task = rt.tasks.get_mut(&id)?;
        let future = task.future.take()?;
        task.waker.queued.store(false, Ordering::Release);
        Some((task.context_id, Waker::from(task.waker.clone()), future))
    });
    // Gone (finished or cancelled before its wake-up was handled): nothing to do.
    let Some((context_id, waker, mut future)) = taken else { return };
    make_effective(context_id);
    let previous = CURRENT.with(|c| c.replace(Some(id)));
    let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
    CURRENT.with(|c| c.set(previous));
    // What must be dropped outside the runtime borrow: a finished task, or a future whose task
    // was cancelled from inside its own poll.
    let leftover: Option<Pin<Box<dyn Future<Output = ()>>>> = match poll {
        Poll::Ready(()) => {
            let finished = RUNTIME.with(|rt| rt.borrow_mut().tasks.remove(&id));
            drop(finished);
            None
        }
        Poll::Pending => RUNTIME.with(|rt| match rt.borrow_mut().tasks.get_mut(&id) {
            Some(task) => {
                task.future = Some(future);
                None
            }
            None => Some(future),
        }),
    };
    drop(leftover);
}

/// Adds a timer ending at `deadline_ms` (host clock) and returns its id. The first timer turns
/// the host's tick on.
fn add_timer(deadline_ms: u64, waker: Waker) -> u64 {
    let (id, first) = RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        rt.next_timer += 1;
        let id = rt.next_timer;
        rt.timers.insert(id, Timer { deadline_ms, waker: Some(waker), fired: false });
        (id, rt.timers.len() == 1)
    });
    if first {
        host::set_tick_period(TICK_MS);
    }
    id
}

/// The host's tick: wakes every timer whose deadline has passed, runs what woke, and turns the
/// tick off once nothing sleeps.
pub(crate) fn on_tick(now_ms: u64) {
    let wakers: Vec<Waker> = RUNTIME.with(|rt| {
        let mut rt = rt.borrow_mut();
        rt.timers
            .values_mut()
            .filter(|t| !t.fired && t.deadline_ms <= now_ms)
            .filter_map(|t| {
                t.fired = true;
                t.waker.take()
            })
            .collect()
    });
    wakers.into_iter().for_each(Waker::wake);
    enter(root_context());
    run_ready(false);
    // Fired timers stay until their futures take them; only pending ones need the tick.
    if RUNTIME.with(|rt| rt.borrow().timers.values().all(|t| t.fired)) {
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
    DRAINING.with(|d| d.set(false));
    CURRENT.with(|c| c.set(None));
}

/// A future that resolves when the callback for `token` arrives.
///
/// Dropping it before then forgets the registration, so the callback (which the host delivers
/// exactly once, or never when the host cancels the call with its stream) is dropped as unknown
/// and the token table never grows.
pub(crate) struct PendingCall {
    token: u32,
}

impl PendingCall {
    pub(crate) fn new(token: u32) -> Self {
        register(token);
        PendingCall { token }
    }
}

impl Future for PendingCall {
    type Output = CallOutcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CallOutcome> {
        RUNTIME.with(|rt| {
            let mut rt = rt.borrow_mut();
            let Some(waiter) = rt.waiters.get_mut(&self.token) else {
                // Only reachable after `reset()` (a test restarted the runtime): never completes.
                return Poll::Pending;
            };
            match waiter.outcome.take() {
                Some(outcome) => {
                    rt.waiters.remove(&self.token);
                    Poll::Ready(outcome)
                }
                None => {
                    if !waiter.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        waiter.waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        let token = self.token;
        let _ = RUNTIME.try_with(|rt| {
            if let Ok(mut rt) = rt.try_borrow_mut() {
                rt.waiters.remove(&token);
            }
        });
    }
}

/// A timer registration held by [`crate::time::Sleep`]; removed when dropped.
#[derive(Debug)]
pub(crate) struct TimerSlot {
    id: Option<u64>,
}

impl TimerSlot {
    pub(crate) fn new() -> Self {
        TimerSlot { id: None }
    }

    /// Whether the timer fired; registers it (or refreshes its waker) when it has not.
    pub(crate) fn poll_fired(&mut self, deadline_ms: u64, cx: &mut Context<'_>) -> bool {
        let Some(id) = self.id else {
            self.id = Some(add_timer(deadline_ms, cx.waker().clone()));
            return false;
        };
        RUNTIME.with(|rt| {
            let mut rt = rt.borrow_mut();
            match rt.timers.get_mut(&id) {
                Some(t) if t.fired => true,
                Some(t) => {
                    t.waker = Some(cx.waker().clone());
                    false
                }
                None => true,
            }
        })
    }
}

impl Drop for TimerSlot {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let _ = RUNTIME.try_with(|rt| {
            if let Ok(mut rt) = rt.try_borrow_mut() {
                rt.timers.remove(&id);
            }
        });
    }
}
