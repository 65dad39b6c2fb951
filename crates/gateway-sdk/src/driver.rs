//! Drives a plugin's hooks for the host: picks the configuration for each request, runs each
//! `async` hook as a task, pauses the stream while it is pending and, when it completes,
//! resumes the stream or sends the local response it chose.
//!
//! Envoy's stream semantics this follows (proxy-wasm-cpp-host, Envoy 1.40):
//! - headers that end the stream get no body callback, and a body followed by trailers never
//!   gets a body callback with `end_of_stream`; the driver runs the body hook at the end of the
//!   stream itself in both cases, so a `Buffered` hook always runs once;
//! - while a hook is pending the host may call for the other direction (the upstream answered
//!   before the request body was admitted): that hook is held and runs after the pending one,
//!   one hook at a time, and every direction paused on it is resumed when its turn is done.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
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

type HookFuture<F> = Pin<Box<dyn Future<Output = (F, Flow)>>>;

/// One hook call, ready to run on the filter.
struct Hook<F> {
    direction: BodyKind,
    run: Box<dyn FnOnce(F) -> HookFuture<F>>,
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

struct StreamState<F> {
    /// The filter, `None` while a hook task holds it.
    filter: Option<F>,
    task: Option<TaskId>,
    /// Hooks whose callbacks arrived while another hook was pending.
    deferred: VecDeque<Hook<F>>,
    /// Directions the host is paused on, waiting for `proxy_continue_stream`.
    paused_request: bool,
    paused_response: bool,
    /// Set by a hook that finished during its first poll: the callback returns it itself.
    outcome: Option<Flow>,
    responded: bool,
    request: BodyProgress,
    response: BodyProgress,
    /// The filter's body modes as of the last hook that finished (the filter itself may be
    /// held by a pending hook).
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

    /// Puts the filter back after a hook and notes its body modes.
    fn give_back(&mut self, filter: F) {
        self.request_mode = filter.request_body_mode();
        self.response_mode = filter.response_body_mode();
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

/// One HTTP stream's hook state machine.
pub(crate) struct StreamDriver<P: Plugin> {
    context_id: u32,
    rules: Option<Rc<RuleSet<P>>>,
    /// Whether a configuration matched this stream (else every callback continues).
    active: bool,
    state: Rc<RefCell<StreamState<P::Filter>>>,
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
                deferred: VecDeque::new(),
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
            s.give_back(filter);
            s.request.ended = end_of_stream;
        }
        self.dispatch(Hook {
            direction: BodyKind::Request,
            run: Box::new(move |mut f: P::Filter| {
                Box::pin(async move {
                    let flow = f.on_request_headers(&mut HttpContext::new()).await;
                    if end_of_stream && flow == Flow::Continue && f.request_body_mode() != BodyMode::Skip {
                        // No body will come: the body hook sees the (empty) end of the stream now.
                        let mut body = Body::new(BodyKind::Request, 0, 0, true);
                        let flow = f.on_request_body(&mut HttpContext::new(), &mut body).await;
                        return (f, flow);
                    }
                    (f, flow)
                })
            }),
        })
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
        self.dispatch(Hook {
            direction: BodyKind::Response,
            run: Box::new(move |mut f: P::Filter| {
                Box::pin(async move {
                    let flow = f.on_response_headers(&mut HttpContext::new()).await;
                    if end_of_stream && flow == Flow::Continue && f.response_body_mode() != BodyMode::Skip {
                        let mut body = Body::new(BodyKind::Response, 0, 0, true);
                        let flow = f.on_response_body(&mut HttpContext::new(), &mut body).await;
                        return (f, flow);
                    }
                    (f, flow)
                })
            }),
        })
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
        let (filter, task, deferred) = {
            let mut s = self.state.borrow_mut();
            (s.filter.take(), s.task.take(), std::mem::take(&mut s.deferred))
        };
        drop(deferred);
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
        if !self.active || self.state.borrow().responded {
            return Action::Continue;
        }
        {
            let mut s = self.state.borrow_mut();
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
        self.dispatch(body_hook::<P::Filter>(direction, self.state.clone(), end_of_stream))
    }

    fn on_trailers(&mut self, direction: BodyKind) -> Action {
        runtime::enter(self.context_id);
        if !self.active || self.state.borrow().responded {
            return Action::Continue;
        }
        let body_first = {
            let mut s = self.state.borrow_mut();
            let p = s.progress(direction);
            let first = !p.ended;
            p.ended = true;
            first
        };
        let state = self.state.clone();
        let body = body_first.then(|| body_hook::<P::Filter>(direction, state, true));
        self.dispatch(Hook {
            direction,
            run: Box::new(move |f: P::Filter| {
                Box::pin(async move {
                    let (mut f, flow) = match body {
                        Some(body) => (body.run)(f).await,
                        None => (f, Flow::Continue),
                    };
                    if flow != Flow::Continue {
                        return (f, flow);
                    }
                    let flow = match direction {
                        BodyKind::Request => f.on_request_trailers(&mut HttpContext::new()).await,
                        BodyKind::Response => f.on_response_trailers(&mut HttpContext::new()).await,
                    };
                    (f, flow)
                })
            }),
        })
    }

    /// Runs `hook` now, or holds it when another hook is pending. Returns what the host should
    /// do with this callback.
    fn dispatch(&mut self, hook: Hook<P::Filter>) -> Action {
        let direction = hook.direction;
        {
            let mut s = self.state.borrow_mut();
            if s.responded {
                return Action::Continue;
            }
            if s.task.is_some() {
                s.deferred.push_back(hook);
                *s.paused(direction) = true;
                return Action::Pause;
            }
        }
        let Some(filter) = self.state.borrow_mut().filter.take() else { return Action::Continue };
        let shared = self.state.clone();
        let task = run_hooks(shared, filter, hook);
        let task_id = runtime::spawn(self.context_id, task);
        let mut s = self.state.borrow_mut();
        if runtime::is_alive(task_id) {
            s.task = Some(task_id);
            *s.paused(direction) = true;
            return Action::Pause;
        }
        match s.outcome.take() {
            Some(Flow::Respond(response)) => {
                s.responded = true;
                drop(s);
                send(&response);
                Action::Pause
            }
            _ => Action::Continue,
        }
    }
}

/// The body hook for what the host holds of `direction` and has not been seen yet.
fn body_hook<F: HttpFilter>(direction: BodyKind, state: Rc<RefCell<StreamState<F>>>, end_of_stream: bool) -> Hook<F> {
    Hook {
        direction,
        run: Box::new(move |mut f: F| {
            Box::pin(async move {
                let mode = match direction {
                    BodyKind::Request => f.request_body_mode(),
                    BodyKind::Response => f.response_body_mode(),
                };
                let (offset, size) = {
                    let mut s = state.borrow_mut();
                    let p = s.progress(direction);
                    let offset = if mode == BodyMode::Buffered { 0 } else { p.seen.min(p.held) };
                    let size = p.held - offset;
                    p.seen = p.held;
                    (offset, size)
                };
                if mode == BodyMode::Skip || (mode == BodyMode::Buffered && !end_of_stream) {
                    return (f, Flow::Continue);
                }
                let mut body = Body::new(direction, offset, size, end_of_stream);
                let flow = match direction {
                    BodyKind::Request => f.on_request_body(&mut HttpContext::new(), &mut body).await,
                    BodyKind::Response => f.on_response_body(&mut HttpContext::new(), &mut body).await,
                };
                (f, flow)
            })
        }),
    }
}

/// The task of a stream: runs `first` and then every hook held meanwhile, resuming each
/// direction the host paused once its hooks are done.
async fn run_hooks<F: HttpFilter>(state: Rc<RefCell<StreamState<F>>>, filter: F, first: Hook<F>) {
    let mut filter = filter;
    let mut hook = first;
    loop {
        let direction = hook.direction;
        let (f, flow) = (hook.run)(filter).await;
        filter = f;
        if let Flow::Respond(response) = flow {
            let was_paused = {
                let mut s = state.borrow_mut();
                s.give_back(filter);
                s.task = None;
                s.deferred.clear();
                s.responded = true;
                let paused = s.paused_request || s.paused_response;
                s.paused_request = false;
                s.paused_response = false;
                if !paused {
                    s.outcome = Some(Flow::Respond(response.clone()));
                }
                paused
            };
            if was_paused {
                send(&response);
            }
            return;
        }
        // The next held hook; a direction is resumed once no held hook of it remains, and the
        // body the host held for it then passes on.
        let next = {
            let mut s = state.borrow_mut();
            s.request_mode = filter.request_body_mode();
            s.response_mode = filter.response_body_mode();
            s.deferred.pop_front()
        };
        if !next.as_ref().is_some_and(|h| h.direction == direction) {
            let resume = {
                let mut s = state.borrow_mut();
                let p = s.progress(direction);
                p.held = 0;
                p.seen = 0;
                std::mem::take(s.paused(direction))
            };
            if resume {
                host::resume(direction);
            }
        }
        match next {
            Some(h) => hook = h,
            None => {
                let mut s = state.borrow_mut();
                s.give_back(filter);
                s.task = None;
                return;
            }
        }
    }
}

fn send(response: &Response) {
    let headers: Vec<(&str, &str)> = response.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body = if response.body.is_empty() { None } else { Some(response.body.as_slice()) };
    host::send_local_response(u32::from(response.status), &headers, body, &response.details);
}
