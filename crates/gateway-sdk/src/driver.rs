//! Drives a plugin's hooks for the host: picks the configuration for each request, runs each
//! `async` hook as a task, pauses the stream while it is pending and, when it completes,
//! resumes the stream or sends the local response it chose.

use std::cell::RefCell;
use std::future::Future;
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

struct StreamState<F> {
    filter: Option<F>,
    task: Option<TaskId>,
    paused: Option<BodyKind>,
    outcome: Option<Flow>,
    responded: bool,
}

/// One HTTP stream's hook state machine.
pub(crate) struct StreamDriver<P: Plugin> {
    context_id: u32,
    rules: Option<Rc<RuleSet<P>>>,
    state: Rc<RefCell<StreamState<P::Filter>>>,
}

impl<P: Plugin> StreamDriver<P> {
    pub(crate) fn new(context_id: u32, root: &RootState<P>) -> Self {
        StreamDriver {
            context_id,
            rules: root.rules(),
            state: Rc::new(RefCell::new(StreamState {
                filter: None,
                task: None,
                paused: None,
                outcome: None,
                responded: false,
            })),
        }
    }

    fn select_filter(&self) -> Option<P::Filter> {
        let rules = self.rules.as_ref()?;
        let input = if rules.has_rules() {
            let ctx = HttpContext::new();
            MatchInput {
                route: ctx.route_name(),
                host: if rules.needs_host() { ctx.host() } else { String::new() },
                cluster: ctx.cluster_name(),
            }
        } else {
            MatchInput::default()
        };
        rules.select(&input).map(P::new_filter)
    }

    pub(crate) fn on_request_headers(&mut self, _end_of_stream: bool) -> Action {
        let filter = self.select_filter();
        let Some(filter) = filter else { return Action::Continue };
        self.state.borrow_mut().filter = Some(filter);
        self.run(BodyKind::Request, |mut f| async move {
            let flow = f.on_request_headers(&mut HttpContext::new()).await;
            (f, flow)
        })
    }

    pub(crate) fn on_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let Some(mode) = self.body_mode(BodyKind::Request) else { return self.idle_action() };
        match mode {
            BodyMode::Skip => Action::Continue,
            BodyMode::Buffered if !end_of_stream => Action::Pause,
            _ => self.run(BodyKind::Request, move |mut f| async move {
                let mut body = Body::new(BodyKind::Request, size, end_of_stream || mode == BodyMode::Buffered);
                let flow = f.on_request_body(&mut HttpContext::new(), &mut body).await;
                (f, flow)
            }),
        }
    }

    pub(crate) fn on_response_headers(&mut self, _end_of_stream: bool) -> Action {
        if self.state.borrow().filter.is_none() {
            return self.idle_action();
        }
        self.run(BodyKind::Response, |mut f| async move {
            let flow = f.on_response_headers(&mut HttpContext::new()).await;
            (f, flow)
        })
    }

    pub(crate) fn on_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let Some(mode) = self.body_mode(BodyKind::Response) else { return self.idle_action() };
        match mode {
            BodyMode::Skip => Action::Continue,
            BodyMode::Buffered if !end_of_stream => Action::Pause,
            _ => self.run(BodyKind::Response, move |mut f| async move {
                let mut body = Body::new(BodyKind::Response, size, end_of_stream || mode == BodyMode::Buffered);
                let flow = f.on_response_body(&mut HttpContext::new(), &mut body).await;
                (f, flow)
            }),
        }
    }

    /// The stream ended: run `on_stream_done` if no hook is pending, and drop any pending hook.
    pub(crate) fn on_done(&mut self) {
        let (filter, task) = {
            let mut s = self.state.borrow_mut();
            (s.filter.take(), s.task.take())
        };
        if let Some(task) = task {
            runtime::cancel(task);
        }
        if let Some(mut filter) = filter {
            filter.on_stream_done(&mut HttpContext::new());
        }
    }

    /// The action when the plugin has nothing to run: pause while a hook is pending
    /// (the host buffers), else continue.
    fn idle_action(&self) -> Action {
        if self.state.borrow().task.is_some() { Action::Pause } else { Action::Continue }
    }

    /// The body mode for `kind`, or `None` when no hook may run now (no filter, a local
    /// response was sent, or a hook is pending).
    fn body_mode(&self, kind: BodyKind) -> Option<BodyMode> {
        let s = self.state.borrow();
        if s.responded || s.task.is_some() {
            return None;
        }
        let filter = s.filter.as_ref()?;
        Some(match kind {
            BodyKind::Request => filter.request_body_mode(),
            BodyKind::Response => filter.response_body_mode(),
        })
    }

    fn run<Fut>(&mut self, direction: BodyKind, hook: impl FnOnce(P::Filter) -> Fut) -> Action
    where
        Fut: Future<Output = (P::Filter, Flow)> + 'static,
    {
        let filter = {
            let mut s = self.state.borrow_mut();
            if s.responded || s.task.is_some() {
                return if s.task.is_some() { Action::Pause } else { Action::Continue };
            }
            s.filter.take()
        };
        let Some(filter) = filter else { return Action::Continue };
        let future = hook(filter);
        let shared = self.state.clone();
        let task = async move {
            let (filter, flow) = future.await;
            let paused = {
                let mut s = shared.borrow_mut();
                s.filter = Some(filter);
                s.task = None;
                s.paused.take()
            };
            match paused {
                // Finished during the first poll: the driver returns the action itself.
                None => shared.borrow_mut().outcome = Some(flow),
                // Finished later, from a callback: resume or answer now.
                Some(direction) => match flow {
                    Flow::Continue => host::resume(direction),
                    Flow::Respond(response) => {
                        shared.borrow_mut().responded = true;
                        send(&response);
                    }
                },
            }
        };
        let (task_id, finished) = runtime::spawn(self.context_id, task);
        let mut s = self.state.borrow_mut();
        if finished {
            match s.outcome.take() {
                Some(Flow::Respond(response)) => {
                    s.responded = true;
                    drop(s);
                    send(&response);
                    Action::Pause
                }
                _ => Action::Continue,
            }
        } else {
            s.task = Some(task_id);
            s.paused = Some(direction);
            Action::Pause
        }
    }
}

fn send(response: &Response) {
    let headers: Vec<(&str, &str)> = response.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body = if response.body.is_empty() { None } else { Some(response.body.as_slice()) };
    host::send_local_response(u32::from(response.status), &headers, body);
}
