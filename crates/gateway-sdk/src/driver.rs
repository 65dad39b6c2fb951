//! Drives a plugin's hooks for the host: picks the configuration for each request, runs the
//! stream's `async` hooks one after another in one task, pauses the stream while a hook is
//! pending and, when it completes, resumes the stream or sends the local response it chose.
//!
//! Envoy's stream semantics this follows (proxy-wasm-cpp-host, Envoy 1.40):
//! - headers that end the stream get no body callback, and a body followed by trailers never
//!   gets a body callback with `end_of_stream`; the driver runs the body hook at the end of the
//!   stream itself in both cases, so a `Buffered` hook always runs once;
//! - while a hook is pending the host may call for the other direction (the upstream answered
//!   before the request body was admitted): that hook is held and runs after the pending one,
//!   one hook at a time, and every direction paused on it is resumed when its turn is done.
//!
//! A callback whose hook cannot run yet queues it; the task that runs a hook runs the queued
//! ones after it. The filter is boxed once per stream, so hooks move a pointer, and a hook is a
//! small description of what to call, not a boxed closure.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::abi::{BodyKind, host};
use crate::config::ConfigError;
use crate::config::rules::{MatchInput, RuleSet};
use crate::context::{Body, HttpContext};
use crate::plugin::{BodyMode, Flow, HttpFilter, Plugin};
use crate::response::Response;
use crate::runtime::{self, TaskId};

/// What the host should do with the stream after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Continue processing.
    Continue,
    /// Stop (headers: StopIteration; bodies: StopIterationAndBuffer) until resumed.
    Pause,
}

/// Per-worker state of a plugin: its compiled configuration.
pub(crate) struct RootState<P> {
    rules: RefCell<Option<Rc<RuleSet<P>>>>,
}

impl<P: Plugin> RootState<P> {
    pub(crate) fn new() -> Self {
        RootState { rules: RefCell::new(None) }
    }

    /// Compiles a new configuration; on error the previous one stays in force.
    pub(crate) fn configure(&self, bytes: &[u8]) -> Result<(), ConfigError> {
        let rules = RuleSet::<P>::compile(bytes)?;
        *self.rules.borrow_mut() = Some(Rc::new(rules));
        Ok(())
    }

    pub(crate) fn rules(&self) -> Option<Rc<RuleSet<P>>> {
        self.rules.borrow().clone()
    }
}

/// Which hook a callback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookKind {
    /// The headers hook; with `end_of_stream` no body follows, so a body hook that wants the
    /// body runs right after it on the (empty) end of the stream.
    Headers { end_of_stream: bool },
    /// The body hook for what the host holds and the hook has not seen yet.
    Body { end_of_stream: bool },
    /// The trailers hook, after the body hook sees the end of the stream when `body_first`.
    Trailers { body_first: bool },
}

/// One hook call of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hook {
    direction: BodyKind,
    kind: HookKind,
}

/// Body progress of one direction.
#[derive(Default)]
struct BodyProgress {
    /// Bytes the host holds for this filter (what it buffered since the last Continue).
    held: usize,
    /// Bytes of `held` a body hook has already seen.
    seen: usize,
    /// The body hook saw the end of the stream (or never will run).
    ended: bool,
}

/// What the driver (host callbacks) and the stream's task share.
struct StreamState<F> {
    /// The filter, `None` while a hook task holds it.
    filter: Option<Box<F>>,
    /// The task running this stream's hooks, while one runs.
    task: Option<TaskId>,
    /// Hooks held while another hook was pending, in the order their callbacks arrived.
    queue: VecDeque<Hook>,
    /// Directions the host is paused on, waiting for `proxy_continue_stream`.
    paused_request: bool,
    paused_response: bool,
    /// Set by a hook that finished inside the callback that started it: that callback sends it.
    outcome: Option<Response>,
    responded: bool,
    request: BodyProgress,
    response: BodyProgress,
    /// The filter's body modes as of the last hook that finished (the filter itself is held by
    /// the task).
    request_mode: BodyMode,
    response_mode: BodyMode,
}

impl<F: HttpFilter> StreamState<F> {
    fn mode(&self, direction: BodyKind) -> BodyMode {
        match direction {
            BodyKind::Request => self.request_mode,
            BodyKind::Response => self.response_mode,
        }
    }

    /// Notes the filter's body modes after a hook.
    fn note_modes(&mut self, filter: &F) {
        self.request_mode = filter.request_body_mode();
        self.response_mode = filter.response_body_mode();
    }

    /// Puts the filter back after a hook and notes its body modes.
    fn give_back(&mut self, filter: Box<F>) {
        self.note_modes(&filter);
        self.filter = Some(filter);
    }

    fn paused(&mut self, direction: BodyKind) -> &mut bool {
        match direction {
            BodyKind::Request => &mut self.paused_request,
            BodyKind::Response => &mut self.paused_response,
        }
    }

    fn progress(&mut self, direction: BodyKind) -> &mut BodyProgress {
        match direction {
            BodyKind::Request => &mut self.request,
            BodyKind::Response => &mut self.response,
        }
    }
}

type StateCell<F> = Rc<RefCell<StreamState<F>>>;

/// One HTTP stream's hook state machine.
pub(crate) struct StreamDriver<P: Plugin> {
    context_id: u32,
    rules: Option<Rc<RuleSet<P>>>,
    /// Whether a configuration matched this stream (else every callback continues).
    active: bool,
    state: StateCell<P::Filter>,
}

impl<P: Plugin> StreamDriver<P> {
    pub(crate) fn new(context_id: u32, root: &RootState<P>) -> Self {
        StreamDriver {
            context_id,
            rules: root.rules(),
            active: false,
            state: Rc::new(RefCell::new(StreamState {
                filter: None,
                task: None,
                queue: VecDeque::new(),
                paused_request: false,
                paused_response: false,
                outcome: None,
                responded: false,
                request: BodyProgress::default(),
                response: BodyProgress::default(),
                request_mode: BodyMode::Skip,
                response_mode: BodyMode::Skip,
            })),
        }
    }

    fn select_filter(&self) -> Option<P::Filter> {
        let rules = self.rules.as_ref()?;
        let input = if rules.has_rules() {
            let ctx = HttpContext::new();
            MatchInput {
                route: ctx.route_name(),
                host: if rules.needs_host() {
                    MatchInput::host_of(&ctx.request_header(":authority").unwrap_or_default())
                } else {
                    String::new()
                },
                cluster: ctx.cluster_name(),
            }
        } else {
            MatchInput::default()
        };
        rules.select(&input).map(P::new_filter)
    }

    pub(crate) fn on_request_headers(&mut self, end_of_stream: bool) -> Action {
        runtime::enter(self.context_id);
        let Some(filter) = self.select_filter() else { return Action::Continue };
        self.active = true;
        {
            let mut s = self.state.borrow_mut();
            s.give_back(Box::new(filter));
            s.request.ended = end_of_stream;
        }
        self.dispatch(Hook { direction: BodyKind::Request, kind: HookKind::Headers { end_of_stream } })
    }

    pub(crate) fn on_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.on_body(BodyKind::Request, size, end_of_stream)
    }

    pub(crate) fn on_request_trailers(&mut self) -> Action {
        self.on_trailers(BodyKind::Request)
    }

    pub(crate) fn on_response_headers(&mut self, end_of_stream: bool) -> Action {
        runtime::enter(self.context_id);
        if !self.active {
            return Action::Continue;
        }
        self.state.borrow_mut().response.ended = end_of_stream;
        self.dispatch(Hook { direction: BodyKind::Response, kind: HookKind::Headers { end_of_stream } })
    }

    pub(crate) fn on_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.on_body(BodyKind::Response, size, end_of_stream)
    }

    pub(crate) fn on_response_trailers(&mut self) -> Action {
        self.on_trailers(BodyKind::Response)
    }

    /// The stream ended: run `on_stream_done` if no hook is pending, and drop any pending hook.
    pub(crate) fn on_done(&mut self) {
        runtime::enter(self.context_id);
        let (filter, task, queue) = {
            let mut s = self.state.borrow_mut();
            (s.filter.take(), s.task.take(), std::mem::take(&mut s.queue))
        };
        drop(queue);
        if let Some(task) = task {
            // Drops the hook's future and the filter it holds (outside any borrow).
            runtime::cancel(task);
        }
        if let Some(mut filter) = filter {
            filter.on_stream_done(&mut HttpContext::new());
        }
    }

    fn on_body(&mut self, direction: BodyKind, size: usize, end_of_stream: bool) -> Action {
        runtime::enter(self.context_id);
        if !self.active {
            return Action::Continue;
        }
        {
            let mut s = self.state.borrow_mut();
            if s.responded {
                return Action::Continue;
            }
            match s.mode(direction) {
                BodyMode::Skip => return Action::Continue,
                BodyMode::Buffered if !end_of_stream => {
                    // The host keeps buffering and calls again with the total; no resume needed.
                    s.progress(direction).held = size;
                    return Action::Pause;
                }
                _ => {}
            }
            let p = s.progress(direction);
            p.held = size;
            if end_of_stream {
                p.ended = true;
            }
        }
        self.dispatch(Hook { direction, kind: HookKind::Body { end_of_stream } })
    }

    fn on_trailers(&mut self, direction: BodyKind) -> Action {
        runtime::enter(self.context_id);
        if !self.active {
            return Action::Continue;
        }
        let body_first = {
            let mut s = self.state.borrow_mut();
            if s.responded {
                return Action::Continue;
            }
            let p = s.progress(direction);
            let first = !p.ended;
            p.ended = true;
            first
        };
        self.dispatch(Hook { direction, kind: HookKind::Trailers { body_first } })
    }

    /// Runs `hook` now, or holds it when another hook is pending. Returns what the host should
    /// do with this callback.
    fn dispatch(&mut self, hook: Hook) -> Action {
        let direction = hook.direction;
        let filter = {
            let mut s = self.state.borrow_mut();
            if s.responded {
                return Action::Continue;
            }
            if s.task.is_some() {
                // Held until the pending hook is done; this direction waits for it.
                s.queue.push_back(hook);
                *s.paused(direction) = true;
                return Action::Pause;
            }
            let Some(filter) = s.filter.take() else { return Action::Continue };
            filter
        };
        let task = runtime::spawn_queued(self.context_id, run_hooks(self.state.clone(), filter, hook));
        self.state.borrow_mut().task = Some(task);
        runtime::run_ready(true);
        let mut s = self.state.borrow_mut();
        if s.task.is_some() {
            *s.paused(direction) = true;
            return Action::Pause;
        }
        match s.outcome.take() {
            Some(response) => {
                drop(s);
                send(&response);
                Action::Pause
            }
            None => Action::Continue,
        }
    }
}

/// The task of a stream's hooks: runs `first` and then every hook held meanwhile, resuming
/// each direction the host paused once its hooks are done, and gives the filter back.
async fn run_hooks<F: HttpFilter>(state: StateCell<F>, mut filter: Box<F>, first: Hook) {
    let mut hook = first;
    loop {
        let flow = run_hook(&mut *filter, hook, &state).await;
        let mut s = state.borrow_mut();
        if let Flow::Respond(response) = flow {
            s.give_back(filter);
            s.task = None;
            s.queue.clear();
            s.responded = true;
            let paused = std::mem::take(&mut s.paused_request) | std::mem::take(&mut s.paused_response);
            if paused {
                drop(s);
                send(&response);
            } else {
                // Finished inside the callback that started it: that callback answers.
                s.outcome = Some(response);
            }
            return;
        }
        s.note_modes(&filter);
        let next = s.queue.pop_front();
        // A direction is resumed once no held hook of it remains, and the body the host held
        // for it then passes on.
        if !next.is_some_and(|next| next.direction == hook.direction) {
            let p = s.progress(hook.direction);
            p.held = 0;
            p.seen = 0;
            if std::mem::take(s.paused(hook.direction)) {
                drop(s);
                host::resume(hook.direction);
                s = state.borrow_mut();
            }
        }
        match next {
            Some(next) => hook = next,
            None => {
                s.give_back(filter);
                s.task = None;
                return;
            }
        }
    }
}

/// Runs one hook on `filter`.
async fn run_hook<F: HttpFilter>(filter: &mut F, hook: Hook, state: &StateCell<F>) -> Flow {
    let direction = hook.direction;
    match hook.kind {
        HookKind::Headers { end_of_stream } => {
            let flow = match direction {
                BodyKind::Request => filter.on_request_headers(&mut HttpContext::new()).await,
                BodyKind::Response => filter.on_response_headers(&mut HttpContext::new()).await,
            };
            if end_of_stream && matches!(flow, Flow::Continue) && body_mode(filter, direction) != BodyMode::Skip {
                // No body will come: the body hook sees the (empty) end of the stream now.
                let mut body = Body::new(direction, 0, 0, true);
                return body_call(filter, direction, &mut body).await;
            }
            flow
        }
        HookKind::Body { end_of_stream } => run_body(filter, direction, state, end_of_stream).await,
        HookKind::Trailers { body_first } => {
            if body_first {
                let flow = run_body(filter, direction, state, true).await;
                if !matches!(flow, Flow::Continue) {
                    return flow;
                }
            }
            match direction {
                BodyKind::Request => filter.on_request_trailers(&mut HttpContext::new()).await,
                BodyKind::Response => filter.on_response_trailers(&mut HttpContext::new()).await,
            }
        }
    }
}

fn body_mode<F: HttpFilter>(filter: &F, direction: BodyKind) -> BodyMode {
    match direction {
        BodyKind::Request => filter.request_body_mode(),
        BodyKind::Response => filter.response_body_mode(),
    }
}

/// The body hook for what the host holds of `direction` and the hook has not seen yet.
async fn run_body<F: HttpFilter>(
    filter: &mut F,
    direction: BodyKind,
    state: &StateCell<F>,
    end_of_stream: bool,
) -> Flow {
    let mode = body_mode(filter, direction);
    let (offset, size) = {
        let mut s = state.borrow_mut();
        let p = s.progress(direction);
        let offset = if mode == BodyMode::Buffered { 0 } else { p.seen.min(p.held) };
        let size = p.held - offset;
        p.seen = p.held;
        (offset, size)
    };
    if mode == BodyMode::Skip || (mode == BodyMode::Buffered && !end_of_stream) {
        return Flow::Continue;
    }
    let mut body = Body::new(direction, offset, size, end_of_stream);
    body_call(filter, direction, &mut body).await
}

async fn body_call<F: HttpFilter>(filter: &mut F, direction: BodyKind, body: &mut Body) -> Flow {
    match direction {
        BodyKind::Request => filter.on_request_body(&mut HttpContext::new(), body).await,
        BodyKind::Response => filter.on_response_body(&mut HttpContext::new(), body).await,
    }
}

fn send(response: &Response) {
    let headers: Vec<(&str, &str)> = response.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body = if response.body.is_empty() { None } else { Some(response.body.as_slice()) };
    host::send_local_response(u32::from(response.status), &headers, body, &response.details);
}
