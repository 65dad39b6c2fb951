//! Worker threads, like Envoy's `--concurrency`: each runs a single-threaded tokio runtime with
//! its own VM per plugin, its own Redis connections and upstream pool, and accepts on the
//! shared listening sockets.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use anyhow::anyhow;
use tokio::sync::{mpsc, watch};

use crate::config::GatewayConfig;
use crate::http::upstream::{ClusterState, UpstreamPool};
use crate::redis::RedisPool;
use crate::shared::SharedState;
use crate::vm::{PluginVm, VmEvent, VmSpec};

/// What host calls on this worker can reach.
pub struct WorkerEnv {
    pub clusters: HashMap<String, ClusterState>,
    pub redis: RedisPool,
    pub upstream: UpstreamPool,
    pub log_filter: log::LevelFilter,
}

/// A VM shared by the streams and the callback task of one worker.
pub type VmRef = Rc<RefCell<PluginVm>>;

/// One plugin on one worker: its current VM, recreated after a trap.
pub struct PluginSlot {
    spec: Arc<VmSpec>,
    shared: Arc<SharedState>,
    env: Rc<WorkerEnv>,
    vm: RefCell<Option<VmRef>>,
}

impl PluginSlot {
    /// The live VM, starting a fresh one when there is none or the last one failed.
    pub fn vm(&self) -> anyhow::Result<VmRef> {
        if let Some(vm) = self.vm.borrow().as_ref()
            && !vm.borrow().failed
        {
            return Ok(vm.clone());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let vm = PluginVm::start(&self.spec, self.shared.clone(), self.env.clone(), tx)?;
        let vm = Rc::new(RefCell::new(vm));
        tokio::task::spawn_local(run_events(Rc::downgrade(&vm), rx));
        if self.vm.borrow().is_some() {
            log::warn!("plugin {}: VM recreated after a failure", self.spec.plugin.name);
        }
        *self.vm.borrow_mut() = Some(vm.clone());
        Ok(vm)
    }
}

/// Delivers callbacks to one VM, one at a time, never inside another VM call.
async fn run_events(vm: std::rc::Weak<RefCell<PluginVm>>, mut rx: mpsc::UnboundedReceiver<VmEvent>) {
    while let Some(event) = rx.recv().await {
        let Some(vm) = vm.upgrade() else { break };
        let Ok(mut vm) = vm.try_borrow_mut() else {
            log::error!("VM busy when delivering a callback; dropped");
            continue;
        };
        vm.deliver(event);
    }
}

/// Everything a worker serves with.
pub struct Worker {
    pub env: Rc<WorkerEnv>,
    pub plugins: HashMap<String, Rc<PluginSlot>>,
    pub config: Arc<GatewayConfig>,
    pub shared: Arc<SharedState>,
}

/// What a worker thread starts with.
pub struct WorkerStart {
    pub index: usize,
    pub config: Arc<GatewayConfig>,
    pub specs: Arc<HashMap<String, Arc<VmSpec>>>,
    pub shared: Arc<SharedState>,
    pub listeners: Vec<std::net::TcpListener>,
    /// Worker 0 also serves the admin listener.
    pub admin: Option<std::net::TcpListener>,
    pub shutdown: watch::Receiver<bool>,
    pub ready: std::sync::mpsc::Sender<anyhow::Result<()>>,
}

/// Runs one worker thread until `shutdown` flips; reports start-up success on `ready`.
pub fn run(start: WorkerStart) {
    let WorkerStart { index, config, specs, shared, listeners, admin, mut shutdown, ready } = start;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(anyhow!("worker {index}: runtime: {e}")));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let env = Rc::new(WorkerEnv {
            clusters: config.clusters.iter().map(|c| (c.name.clone(), ClusterState::new(c.clone()))).collect(),
            redis: RedisPool::default(),
            upstream: UpstreamPool::default(),
            log_filter: config.log_filter(),
        });
        let mut plugins = HashMap::new();
        for (name, spec) in specs.iter() {
            let slot = Rc::new(PluginSlot {
                spec: spec.clone(),
                shared: shared.clone(),
                env: env.clone(),
                vm: RefCell::new(None),
            });
            if let Err(e) = slot.vm() {
                let _ = ready.send(Err(e));
                return;
            }
            plugins.insert(name.clone(), slot);
        }
        let worker = Rc::new(Worker { env, plugins, config: config.clone(), shared });
        let mut tokio_listeners = Vec::new();
        for l in listeners {
            match tokio::net::TcpListener::from_std(l) {
                Ok(l) => tokio_listeners.push(l),
                Err(e) => {
                    let _ = ready.send(Err(anyhow!("worker {index}: listener: {e}")));
                    return;
                }
            }
        }
        for (i, l) in tokio_listeners.into_iter().enumerate() {
            tokio::task::spawn_local(crate::http::accept_loop(worker.clone(), i, l));
        }
        if let Some(admin) = admin {
            match tokio::net::TcpListener::from_std(admin) {
                Ok(l) => {
                    tokio::task::spawn_local(crate::http::admin::serve(worker.shared.clone(), l));
                }
                Err(e) => {
                    let _ = ready.send(Err(anyhow!("admin listener: {e}")));
                    return;
                }
            }
        }
        let _ = ready.send(Ok(()));
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    });
}
