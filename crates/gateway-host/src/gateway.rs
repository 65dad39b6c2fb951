//! The library entry point: start a gateway from a config, read its address, inspect its
//! logs, metrics and fuel statistics, stop it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context as _, anyhow};
use tokio::sync::watch;

use crate::config::GatewayConfig;
use crate::profile::{self, FuelProfile};
use crate::services::shared::SharedState;
use crate::state::PluginInfo;
use crate::values::{FuelStats, LogRecord, Metric};
use crate::vm::{self, VmSpec};
use crate::worker::{self, WorkerStart};

/// A running gateway: worker threads serving its listeners. Stops on `stop()` or drop.
pub struct Gateway {
    addrs: Vec<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
    shared: Arc<SharedState>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("addrs", &self.addrs).finish()
    }
}

impl Gateway {
    /// Compiles the plugins, binds the listeners, starts `concurrency` workers and waits until
    /// every worker has configured its VMs. Fails with the plugin's own error when a plugin
    /// does not load or rejects its configuration.
    pub fn start(config: GatewayConfig) -> anyhow::Result<Gateway> {
        config.validate()?;
        let engine = vm::new_engine()?;
        let mut specs = HashMap::new();
        for p in &config.plugins {
            let info = PluginInfo {
                name: p.name.clone(),
                root_id: p.root_id.clone(),
                config: p.config_bytes(),
                vm_config: p.vm_config.clone().into_bytes(),
            };
            let spec = VmSpec::compile(
                &engine,
                &p.wasm,
                info,
                config.fuel_per_call,
                config.memory_limit_bytes,
                config.profile_fuel,
            )?;
            specs.insert(p.name.clone(), Arc::new(spec));
        }
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for l in &config.listeners {
            let listener =
                std::net::TcpListener::bind(&l.address).with_context(|| format!("binding listener {}", l.address))?;
            listener.set_nonblocking(true)?;
            addrs.push(listener.local_addr()?);
            listeners.push(listener);
        }
        let admin = match &config.admin_address {
            Some(a) => {
                let l = std::net::TcpListener::bind(a).with_context(|| format!("binding admin listener {a}"))?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        let admin_addr = admin.as_ref().map(|l| l.local_addr()).transpose()?;
        let config = Arc::new(config);
        let specs = Arc::new(specs);
        let shared = Arc::new(SharedState::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for index in 0..config.concurrency {
            let worker_listeners = listeners.iter().map(|l| l.try_clone()).collect::<Result<Vec<_>, _>>()?;
            let (config, specs, shared) = (config.clone(), specs.clone(), shared.clone());
            let (shutdown_rx, ready_tx) = (shutdown_rx.clone(), ready_tx.clone());
            // Worker 0 also serves the admin listener.
            let admin = if index == 0 { admin.as_ref().map(|l| l.try_clone()).transpose()? } else { None };
            let handle = std::thread::Builder::new().name(format!("gateway-worker-{index}")).spawn(move || {
                worker::run(WorkerStart {
                    index,
                    config,
                    specs,
                    shared,
                    listeners: worker_listeners,
                    admin,
                    shutdown: shutdown_rx,
                    ready: ready_tx,
                })
            })?;
            threads.push(handle);
        }
        drop(ready_tx);
        let mut gateway = Gateway { addrs, admin_addr, shutdown, threads, shared };
        for _ in 0..config.concurrency {
            let started = ready_rx.recv().map_err(|_| anyhow!("a worker exited during start-up")).and_then(|r| r);
            if let Err(e) = started {
                gateway.shutdown_and_join();
                return Err(e);
            }
        }
        Ok(gateway)
    }

    /// The first listener's bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every listener's bound address, in config order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The admin listener's address, when `admin_address` is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// `http://ADDR` of the first listener.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Plugin log lines captured so far (those at or above the configured level).
    pub fn logs(&self) -> Vec<LogRecord> {
        self.shared.logs()
    }

    /// Metrics plugins defined, with their current values.
    pub fn metrics(&self) -> Vec<Metric> {
        self.shared.metrics()
    }

    /// Wasm instructions (fuel) per request, over requests that ran at least one plugin.
    pub fn fuel(&self) -> FuelStats {
        self.shared.fuel()
    }

    /// The fuel profile since start or the last [`Gateway::reset_profile`], from every VM;
    /// `None` when `profile_fuel` is off. Waits for the workers: call it from a plain thread,
    /// not from inside an async runtime.
    pub fn profile(&self) -> Option<FuelProfile> {
        let workers = self.shared.profile_workers();
        if workers.is_empty() {
            return None;
        }
        let mut all = Vec::new();
        for worker in &workers {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if worker.send(profile::ProfileCommand::Read(tx)).is_ok()
                && let Ok(counters) = rx.blocking_recv()
            {
                all.extend(counters);
            }
        }
        Some(FuelProfile::from_counters(all))
    }

    /// Zeroes the fuel profile's counters on every VM (no-op when profiling is off). Like
    /// [`Gateway::profile`], not from inside an async runtime.
    pub fn reset_profile(&self) {
        for worker in &self.shared.profile_workers() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if worker.send(profile::ProfileCommand::Reset(tx)).is_ok() {
                let _ = rx.blocking_recv();
            }
        }
    }

    /// Moves the clock plugins see (`proxy_get_current_time_nanoseconds` and WASI's realtime
    /// clock) so that it reads `time` now; it keeps running from there. For tests of
    /// time-based behaviour (period boundaries) without waiting. Redis's own clock (key TTLs)
    /// is not moved.
    pub fn set_time(&self, time: std::time::SystemTime) {
        self.shared.set_time(time);
    }

    /// Stops the workers and waits for them.
    pub fn stop(mut self) {
        self.shutdown_and_join();
    }

    fn shutdown_and_join(&mut self) {
        let _ = self.shutdown.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown_and_join();
    }
}
