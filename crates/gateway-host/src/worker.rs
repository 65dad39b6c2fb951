//! Worker threads, like Envoy's `--concurrency`: each runs a single-threaded tokio runtime with
//! its own VM per plugin, its own Redis connections and upstream pool, and accepts on the
//! shared listening sockets (top of the stack below `gateway`: it wires services, VM slots and
//! the HTTP frontend together).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use anyhow::anyhow;
use tokio::sync::watch;

use crate::config::GatewayConfig;
use crate::http::frontend::Frontend;
use crate::profile::ProfileCommand;
use crate::services::Services;
use crate::services::redis::RedisPool;
use crate::services::shared::SharedState;
use crate::services::upstream::{ClusterState, UpstreamPool};
use crate::vm::{PluginSlot, VmSpec};

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
        let services = Rc::new(Services {
            clusters: config.clusters.iter().map(|c| (c.name.clone(), ClusterState::new(c.clone()))).collect(),
            redis: RedisPool::default(),
            upstream: UpstreamPool::default(),
            log_filter: config.log_filter(),
        });
        let mut plugins = HashMap::new();
        for (name, spec) in specs.iter() {
            let slot = Rc::new(PluginSlot::new(spec.clone(), shared.clone(), services.clone()));
            if let Err(e) = slot.vm() {
                let _ = ready.send(Err(e));
                return;
            }
            plugins.insert(name.clone(), slot);
        }
        if config.profile_fuel {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            shared.register_profile_worker(tx);
            tokio::task::spawn_local(answer_profile_requests(rx, plugins.clone()));
        }
        let frontend = Rc::new(Frontend { services, plugins, config: config.clone(), shared });
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
            tokio::task::spawn_local(crate::http::accept_loop(frontend.clone(), i, l));
        }
        if let Some(admin) = admin {
            match tokio::net::TcpListener::from_std(admin) {
                Ok(l) => {
                    tokio::task::spawn_local(crate::http::admin::serve(frontend.shared.clone(), l));
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

/// Answers fuel-profile requests with the counters of this worker's VMs. VM calls never span an
/// await, so no VM is in a call while this runs.
async fn answer_profile_requests(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<ProfileCommand>,
    plugins: HashMap<String, Rc<PluginSlot>>,
) {
    while let Some(command) = rx.recv().await {
        match command {
            ProfileCommand::Read(reply) => {
                let _ = reply.send(plugins.values().filter_map(|slot| slot.profile_counters()).collect());
            }
            ProfileCommand::Reset(reply) => {
                for slot in plugins.values() {
                    slot.reset_profile();
                }
                let _ = reply.send(());
            }
        }
    }
}
