//! One plugin VM: a wasmtime instance with its host state, the proxy-wasm lifecycle
//! (start, configure, HTTP contexts, callbacks), fuel accounting and trap handling, and the
//! slot that keeps one plugin's VM on a worker (recreated after a trap). With the fuel profile
//! on, the module is instrumented before compiling and each VM reads its counters.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use tokio::sync::mpsc::{self, UnboundedSender};
use wasmtime::{
    Engine, Global, Instance, Linker, Module, Store, StoreLimitsBuilder, TypedFunc, Val, WasmParams, WasmResults,
};

use crate::abi;
use crate::profile::instrument::{self, CALLS_PREFIX, FUEL_PREFIX, OVERHEAD_EXPORT};
use crate::profile::{Counters, PluginCounters, ProfileMap};
use crate::services::Services;
use crate::services::shared::SharedState;
use crate::state::{CallbackData, HostState, PluginInfo, Stream};
use crate::values::{LocalReply, LogRecord, ProcExit, VmEvent};

/// A VM call that failed: a trap, a missing/mistyped export, or fuel exhaustion.
#[derive(Debug, Clone)]
pub struct VmError(pub String);

impl std::fmt::Display for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VmError {}

/// A compiled plugin ready to be instantiated on any worker.
pub struct VmSpec {
    pub engine: Engine,
    pub module: Module,
    pub plugin: Arc<PluginInfo>,
    pub fuel_per_call: u64,
    pub memory_limit: usize,
    /// The instrumented module's functions when the fuel profile is on.
    pub profile: Option<Arc<ProfileMap>>,
}

/// The engine every VM of a gateway uses (fuel metering on).
pub fn new_engine() -> anyhow::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    Engine::new(&config).map_err(wasm_err)
}

/// Converts a wasmtime error (not a `std::error::Error`) into an `anyhow::Error`.
pub fn wasm_err(e: wasmtime::Error) -> anyhow::Error {
    anyhow!("{e:#}")
}

impl VmSpec {
    /// Compiles a module (binary or WAT) and checks it exports a proxy-wasm ABI version; with
    /// `profile`, instruments it for the fuel profile first.
    pub fn compile(
        engine: &Engine,
        path: &Path,
        plugin: PluginInfo,
        fuel_per_call: u64,
        memory_limit: usize,
        profile: bool,
    ) -> anyhow::Result<VmSpec> {
        let context = || format!("plugin {}: loading {}", plugin.name, path.display());
        if !profile {
            let module = Module::from_file(engine, path).map_err(wasm_err).with_context(context)?;
            return Self::from_module(engine, module, plugin, fuel_per_call, memory_limit);
        }
        let bytes = std::fs::read(path).with_context(context)?;
        let binary = wat::parse_bytes(&bytes).map_err(|e| anyhow!("{e}")).with_context(context)?;
        let instrumented = instrument::instrument(&binary).with_context(context)?;
        let module = Module::new(engine, &instrumented.bytes)
            .map_err(wasm_err)
            .with_context(|| format!("plugin {}: the module instrumented for the fuel profile", plugin.name))?;
        let map = instrumented.map;
        log::info!(
            "plugin {}: fuel profile on: {} functions{}",
            plugin.name,
            map.functions.len(),
            if map.named { "" } else { " (no name section: named func[INDEX])" }
        );
        let mut spec = Self::from_module(engine, module, plugin, fuel_per_call, memory_limit)?;
        spec.profile = Some(Arc::new(map));
        Ok(spec)
    }

    pub fn from_module(
        engine: &Engine,
        module: Module,
        plugin: PluginInfo,
        fuel_per_call: u64,
        memory_limit: usize,
    ) -> anyhow::Result<VmSpec> {
        let has_abi = module.exports().any(|e| abi::ABI_VERSION_EXPORTS.contains(&e.name()));
        if !has_abi {
            bail!(
                "plugin {}: module exports no supported proxy-wasm ABI version (expected one of {})",
                plugin.name,
                abi::ABI_VERSION_EXPORTS.join(", ")
            );
        }
        // Link now so a missing host function is reported at load time, by name.
        let linker = crate::hostcalls::linker(engine).map_err(wasm_err)?;
        linker.instantiate_pre(&module).map_err(|e| anyhow!("plugin {}: {e:#}", plugin.name))?;
        Ok(VmSpec {
            engine: engine.clone(),
            module,
            plugin: Arc::new(plugin),
            fuel_per_call,
            memory_limit,
            profile: None,
        })
    }
}

/// A running plugin VM on one worker.
pub struct PluginVm {
    store: Store<HostState>,
    instance: Instance,
    /// Set after a trap: the VM is not called again and gets recreated.
    pub failed: bool,
    fuel_per_call: u64,
    /// The module speaks Higress's ABI 0_2_100, where a request-headers StopIteration holds
    /// the headers while the body keeps flowing into the filter (0_2_1 turns it into
    /// StopAllIterationAndWatermark).
    holds_headers_on_stop: bool,
    /// The fuel profile's counters (profiling on).
    profile: Option<VmProfile>,
    /// Exports resolved and type-checked once: name -> the typed function (`None`: not
    /// exported). A by-name lookup and type check per callback cost more than some callbacks.
    exports: HashMap<String, Option<Box<dyn Any>>>,
}

/// A VM's fuel-profile counters: the instrumented module's globals.
struct VmProfile {
    fuel: Vec<Global>,
    calls: Vec<Global>,
    overhead: Global,
    /// The overhead counter after the last call, to take each call's share off its fuel.
    overhead_seen: u64,
    /// Fuel metered for this VM's calls since the last reset, net of the instrumentation.
    metered: u64,
}

impl VmProfile {
    fn new(store: &mut Store<HostState>, instance: &Instance, map: &ProfileMap) -> anyhow::Result<VmProfile> {
        let mut global = |name: String| {
            instance.get_global(&mut *store, &name).ok_or_else(|| anyhow!("instrumented module lacks {name}"))
        };
        let mut fuel = Vec::with_capacity(map.functions.len());
        let mut calls = Vec::with_capacity(map.functions.len());
        for f in &map.functions {
            fuel.push(global(format!("{FUEL_PREFIX}{}", f.index))?);
            calls.push(global(format!("{CALLS_PREFIX}{}", f.index))?);
        }
        let overhead = global(OVERHEAD_EXPORT.to_string())?;
        Ok(VmProfile { fuel, calls, overhead, overhead_seen: 0, metered: 0 })
    }

    /// The fuel of a call that metered `raw` (instrumentation included), without the
    /// instrumentation's share.
    fn net_of_overhead(&mut self, store: &mut Store<HostState>, raw: u64) -> u64 {
        let now = read(store, &self.overhead);
        let overhead = now.wrapping_sub(self.overhead_seen);
        self.overhead_seen = now;
        let net = raw.saturating_sub(overhead);
        self.metered += net;
        net
    }

    fn counters(&self, store: &mut Store<HostState>) -> Counters {
        Counters {
            fuel: self.fuel.iter().map(|g| read(store, g)).collect(),
            calls: self.calls.iter().map(|g| read(store, g)).collect(),
            metered: self.metered,
            overhead: read(store, &self.overhead),
            vms: 1,
        }
    }

    fn reset(&mut self, store: &mut Store<HostState>) {
        for g in self.fuel.iter().chain(&self.calls).chain([&self.overhead]) {
            let _ = g.set(&mut *store, Val::I64(0));
        }
        self.overhead_seen = 0;
        self.metered = 0;
    }
}

/// A counter's value (the counters are i64 globals that only grow).
fn read(store: &mut Store<HostState>, global: &Global) -> u64 {
    global.get(&mut *store).i64().unwrap_or(0) as u64
}

impl PluginVm {
    /// Instantiates the module and runs `_initialize`, root context creation, `proxy_on_vm_start`
    /// and `proxy_on_configure`.
    pub fn start(
        spec: &VmSpec,
        shared: Arc<SharedState>,
        services: Rc<Services>,
        events: UnboundedSender<VmEvent>,
    ) -> anyhow::Result<PluginVm> {
        let name = spec.plugin.name.clone();
        let limits = StoreLimitsBuilder::new().memory_size(spec.memory_limit).build();
        let state = HostState::new(spec.plugin.clone(), shared, services, events, limits);
        let mut store = Store::new(&spec.engine, state);
        store.limiter(|s| s.limits_mut());
        store.set_fuel(spec.fuel_per_call).map_err(wasm_err)?;
        let linker: Linker<HostState> = crate::hostcalls::linker(&spec.engine).map_err(wasm_err)?;
        let instance =
            linker.instantiate(&mut store, &spec.module).map_err(|e| anyhow!("plugin {name}: instantiating: {e:#}"))?;
        let holds_headers_on_stop = spec.module.exports().any(|e| e.name() == "proxy_abi_version_0_2_100");
        let profile = match &spec.profile {
            Some(map) => Some(VmProfile::new(&mut store, &instance, map).with_context(|| format!("plugin {name}"))?),
            None => None,
        };
        let mut vm = PluginVm {
            store,
            instance,
            failed: false,
            fuel_per_call: spec.fuel_per_call,
            holds_headers_on_stop,
            profile,
            exports: HashMap::new(),
        };
        let memory = vm.instance.get_memory(&mut vm.store, "memory");
        let allocator = ["malloc", "proxy_on_memory_allocate"]
            .into_iter()
            .find_map(|name| vm.instance.get_func(&mut vm.store, name))
            .and_then(|f| f.typed::<i32, i32>(&vm.store).ok());
        vm.store.data_mut().set_guest_exports(memory, allocator);
        let init = if vm.has_export("_initialize") {
            Some("_initialize")
        } else if vm.has_export("_start") {
            Some("_start")
        } else {
            None
        };
        if let Some(init) = init {
            match vm.call::<(), ()>(init, 1, None, ()) {
                Ok(_) => {}
                Err(e) if e.0.contains("proc_exit(0)") => vm.failed = false,
                Err(e) => bail!("plugin {name}: {init} failed: {e}"),
            }
        }
        let root = vm.store.data().root_context_id();
        vm.call::<(i32, i32), ()>("proxy_on_context_create", root, None, (root as i32, 0))
            .map_err(|e| anyhow!("plugin {name}: creating the root context: {e}"))?;
        vm.store.data_mut().set_configuring(true);
        let vm_config_len = spec.plugin.vm_config.len() as i32;
        let started = vm
            .call::<(i32, i32), i32>("proxy_on_vm_start", root, None, (root as i32, vm_config_len))
            .map_err(|e| anyhow!("plugin {name}: proxy_on_vm_start: {e}"))?;
        if started == Some(0) {
            bail!("plugin {name}: proxy_on_vm_start returned false{}", vm.start_log_suffix());
        }
        let config_len = spec.plugin.config.len() as i32;
        let configured = vm
            .call::<(i32, i32), i32>("proxy_on_configure", root, None, (root as i32, config_len))
            .map_err(|e| anyhow!("plugin {name}: proxy_on_configure: {e}"))?;
        vm.store.data_mut().set_configuring(false);
        if configured == Some(0) {
            bail!("plugin {name}: proxy_on_configure returned false (configuration rejected){}", vm.start_log_suffix());
        }
        Ok(vm)
    }

    fn start_log_suffix(&self) -> String {
        let logs = self.store.data().start_logs();
        if logs.is_empty() { String::new() } else { format!(": {}", logs.join("; ")) }
    }

    fn has_export(&mut self, name: &str) -> bool {
        self.instance.get_func(&mut self.store, name).is_some()
    }

    /// Whether a request-headers StopIteration lets the body flow on into this filter (ABI
    /// 0_2_100, as Higress runs it) instead of pausing the whole stream.
    pub fn holds_headers_on_stop(&self) -> bool {
        self.holds_headers_on_stop
    }

    pub fn plugin_name(&self) -> &str {
        &self.store.data().plugin().name
    }

    pub fn root_context_id(&self) -> u32 {
        self.store.data().root_context_id()
    }

    /// Looks `export` up and checks its type, once: the typed function (or `None`, not
    /// exported) is kept in `exports`.
    fn resolve<P: WasmParams + 'static, R: WasmResults + 'static>(&mut self, export: &str) -> Result<(), VmError> {
        let Some(func) = self.instance.get_func(&mut self.store, export) else {
            self.exports.insert(export.to_string(), None);
            return Ok(());
        };
        match func.typed::<P, R>(&self.store) {
            Ok(t) => {
                self.exports.insert(export.to_string(), Some(Box::new(t)));
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                let msg = format!("plugin {}: export {export} has the wrong type: {e}", self.plugin_name());
                log::error!("{msg}");
                Err(VmError(msg))
            }
        }
    }

    /// Calls an export with `effective` as the effective context. `Ok(None)` when the module
    /// does not export it. Fuel used is added to the stream of `attribute` (if any).
    fn call<P: WasmParams + 'static, R: WasmResults + 'static>(
        &mut self,
        export: &str,
        effective: u32,
        attribute: Option<u32>,
        params: P,
    ) -> Result<Option<R>, VmError> {
        if self.failed {
            return Err(VmError(format!("plugin {}: VM failed earlier", self.plugin_name())));
        }
        if !self.exports.contains_key(export) {
            self.resolve::<P, R>(export)?;
        }
        // Called through the cached handle (cloning it would clone its registered type).
        let Some(Some(typed)) = self.exports.get(export) else { return Ok(None) };
        let Some(typed) = typed.downcast_ref::<TypedFunc<P, R>>() else {
            return Err(VmError(format!(
                "plugin {}: export {export} called with another signature",
                self.plugin_name()
            )));
        };
        self.store.data_mut().enter(effective);
        let _ = self.store.set_fuel(self.fuel_per_call);
        let result = typed.call(&mut self.store, params);
        let mut used = self.fuel_per_call.saturating_sub(self.store.get_fuel().unwrap_or(0));
        if let Some(profile) = &mut self.profile {
            used = profile.net_of_overhead(&mut self.store, used);
        }
        let state = self.store.data();
        if let Some(stream) = attribute.and_then(|c| state.stream_of(c)) {
            stream.data.borrow_mut().fuel += used;
        }
        match result {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                if let Some(exit) = e.downcast_ref::<ProcExit>() {
                    let msg = format!("plugin {}: {exit} in {export}", self.plugin_name());
                    if exit.0 != 0 {
                        self.failed = true;
                    }
                    return Err(VmError(msg));
                }
                self.failed = true;
                let msg = format!("plugin {}: wasm trap in {export}: {e:#}", self.plugin_name());
                log::error!("{msg}");
                state.shared().push_log(LogRecord {
                    plugin: state.plugin().name.clone(),
                    level: log::Level::Error,
                    message: msg.clone(),
                });
                // Streams paused on this VM would wait for callbacks that never run.
                self.fail_streams();
                Err(VmError(msg))
            }
        }
    }

    /// Creates an HTTP context for `stream` and returns its id.
    pub fn create_http_context(&mut self, stream: Rc<Stream>) -> Result<u32, VmError> {
        let state = self.store.data_mut();
        let id = state.add_http_context(stream);
        let root = state.root_context_id();
        self.call::<(i32, i32), ()>("proxy_on_context_create", id, Some(id), (id as i32, root as i32))?;
        Ok(id)
    }

    fn hook(&mut self, export: &str, ctx: u32, a: u32, b: u32) -> Result<i32, VmError> {
        Ok(self.call::<(i32, i32, i32), i32>(export, ctx, Some(ctx), (ctx as i32, a as i32, b as i32))?.unwrap_or(0))
    }

    pub fn on_request_headers(&mut self, ctx: u32, n: usize, eos: bool) -> Result<i32, VmError> {
        self.hook("proxy_on_request_headers", ctx, n as u32, eos as u32)
    }

    pub fn on_request_body(&mut self, ctx: u32, size: usize, eos: bool) -> Result<i32, VmError> {
        self.hook("proxy_on_request_body", ctx, size as u32, eos as u32)
    }

    pub fn on_response_headers(&mut self, ctx: u32, n: usize, eos: bool) -> Result<i32, VmError> {
        self.hook("proxy_on_response_headers", ctx, n as u32, eos as u32)
    }

    pub fn on_response_body(&mut self, ctx: u32, size: usize, eos: bool) -> Result<i32, VmError> {
        self.hook("proxy_on_response_body", ctx, size as u32, eos as u32)
    }

    fn trailers_hook(&mut self, export: &str, ctx: u32, n: usize) -> Result<i32, VmError> {
        Ok(self.call::<(i32, i32), i32>(export, ctx, Some(ctx), (ctx as i32, n as i32))?.unwrap_or(0))
    }

    pub fn on_request_trailers(&mut self, ctx: u32, n: usize) -> Result<i32, VmError> {
        self.trailers_hook("proxy_on_request_trailers", ctx, n)
    }

    pub fn on_response_trailers(&mut self, ctx: u32, n: usize) -> Result<i32, VmError> {
        self.trailers_hook("proxy_on_response_trailers", ctx, n)
    }

    /// `proxy_on_done`, `proxy_on_log`, `proxy_on_delete`; forgets the context. Its HTTP and
    /// Redis calls still complete and reach the root context, as in proxy-wasm-cpp-host.
    pub fn end_http_context(&mut self, ctx: u32) {
        if !self.failed && self.store.data().stream_of(ctx).is_some() {
            let c = ctx as i32;
            let _ = self
                .call::<i32, i32>("proxy_on_done", ctx, Some(ctx), c)
                .and_then(|_| self.call::<i32, ()>("proxy_on_log", ctx, Some(ctx), c))
                .and_then(|_| self.call::<i32, ()>("proxy_on_delete", ctx, Some(ctx), c));
        }
        self.store.data_mut().remove_http_context(ctx);
    }

    /// Runs one callback (never nested: called from the VM's event task).
    pub fn deliver(&mut self, event: VmEvent) {
        if self.failed {
            return;
        }
        let root = self.root_context_id();
        let result = match event {
            VmEvent::RedisReply { token, status, data } => {
                let attribute = self.store.data_mut().take_redis_call(token);
                let size = data.len() as i32;
                self.store.data_mut().set_callback(CallbackData::Redis(data));
                let r = self.call::<(i32, i32, i32, i32), ()>(
                    "proxy_on_redis_call_response",
                    root,
                    attribute,
                    (root as i32, token as i32, status as i32, size),
                );
                self.store.data_mut().set_callback(CallbackData::None);
                r.map(|_| ())
            }
            VmEvent::HttpCallResponse { token, response } => {
                // As in proxy-wasm-cpp-host, an HTTP call belongs to the root context (whichever
                // context dispatched it): the response arrives there, also after the stream
                // that made the call ended. `ctx` only attributes the fuel.
                let Some(ctx) = self.store.data_mut().take_http_call(token) else {
                    log::debug!("plugin {}: dropping response of unknown HTTP call {token}", self.plugin_name());
                    return;
                };
                let attribute = self.store.data().stream_of(ctx).is_some().then_some(ctx);
                let response = response.unwrap_or_default();
                let args = (
                    root as i32,
                    token as i32,
                    response.headers.len() as i32,
                    response.body.len() as i32,
                    response.trailers.len() as i32,
                );
                self.store.data_mut().set_callback(CallbackData::Http(response));
                let r =
                    self.call::<(i32, i32, i32, i32, i32), ()>("proxy_on_http_call_response", root, attribute, args);
                self.store.data_mut().set_callback(CallbackData::None);
                r.map(|_| ())
            }
            VmEvent::QueueReady { root_id, queue_id } => self
                .call::<(i32, i32), ()>("proxy_on_queue_ready", root_id, None, (root_id as i32, queue_id as i32))
                .map(|_| ()),
            VmEvent::Tick => self.call::<i32, ()>("proxy_on_tick", root, None, root as i32).map(|_| ()),
        };
        if let Err(e) = result {
            log::error!("{e}");
        }
        // A callback that failed the VM fails the streams waiting on it.
        if self.failed {
            self.fail_streams();
        }
    }

    /// The fuel profile's counters of this VM (`None` when profiling is off).
    pub fn profile_counters(&mut self) -> Option<Counters> {
        let profile = self.profile.as_ref()?;
        Some(profile.counters(&mut self.store))
    }

    /// Zeroes the fuel profile's counters of this VM.
    pub fn reset_profile(&mut self) {
        if let Some(profile) = &mut self.profile {
            profile.reset(&mut self.store);
        }
    }

    /// Wakes every stream of this VM with the VM-failure local reply (after a trap).
    pub fn fail_streams(&mut self) {
        for stream in self.store.data().streams() {
            let mut d = stream.data.borrow_mut();
            if d.local_reply.is_none() && !d.response_sent {
                d.local_reply = Some(LocalReply::wasm_fail_stream());
            }
            if d.response_sent {
                d.closed = true;
            }
            drop(d);
            stream.notify.notify_waiters();
        }
    }
}

/// A VM shared by the streams and the callback task of one worker.
pub type VmRef = Rc<RefCell<PluginVm>>;

/// One plugin on one worker: its current VM, recreated after a trap.
pub struct PluginSlot {
    spec: Arc<VmSpec>,
    shared: Arc<SharedState>,
    services: Rc<Services>,
    vm: RefCell<Option<VmRef>>,
    /// Fuel-profile counters of the VMs this slot replaced after traps.
    retired: RefCell<Counters>,
}

impl PluginSlot {
    pub fn new(spec: Arc<VmSpec>, shared: Arc<SharedState>, services: Rc<Services>) -> PluginSlot {
        PluginSlot { spec, shared, services, vm: RefCell::new(None), retired: RefCell::new(Counters::default()) }
    }

    /// The live VM, starting a fresh one when there is none or the last one failed.
    pub fn vm(&self) -> anyhow::Result<VmRef> {
        if let Some(vm) = self.vm.borrow().as_ref()
            && !vm.borrow().failed
        {
            return Ok(vm.clone());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let vm = PluginVm::start(&self.spec, self.shared.clone(), self.services.clone(), tx)?;
        let vm = Rc::new(RefCell::new(vm));
        tokio::task::spawn_local(run_events(Rc::downgrade(&vm), rx));
        if let Some(old) = self.vm.borrow().as_ref() {
            log::warn!("plugin {}: VM recreated after a failure", self.spec.plugin.name);
            if let Some(c) = old.try_borrow_mut().ok().and_then(|mut old| old.profile_counters()) {
                self.retired.borrow_mut().add(&c);
            }
        }
        *self.vm.borrow_mut() = Some(vm.clone());
        Ok(vm)
    }

    /// This plugin's fuel-profile counters on this worker: the live VM's plus those of the VMs it
    /// replaced (`None` when profiling is off).
    pub fn profile_counters(&self) -> Option<PluginCounters> {
        let map = self.spec.profile.clone()?;
        let mut counters = self.retired.borrow().clone();
        if let Some(vm) = self.vm.borrow().as_ref() {
            match vm.try_borrow_mut() {
                Ok(mut vm) => {
                    if let Some(c) = vm.profile_counters() {
                        counters.add(&c);
                    }
                }
                Err(_) => log::warn!("plugin {}: VM busy, its fuel profile left out", self.spec.plugin.name),
            }
        }
        Some(PluginCounters { plugin: self.spec.plugin.name.clone(), map, counters })
    }

    /// Zeroes this plugin's fuel-profile counters on this worker.
    pub fn reset_profile(&self) {
        *self.retired.borrow_mut() = Counters::default();
        if let Some(vm) = self.vm.borrow().as_ref()
            && let Ok(mut vm) = vm.try_borrow_mut()
        {
            vm.reset_profile();
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn info() -> PluginInfo {
        PluginInfo { name: "p".into(), root_id: String::new(), config: Vec::new(), vm_config: Vec::new() }
    }

    #[test]
    fn only_with_the_profile_on_is_the_module_rewritten() {
        let path = std::env::temp_dir().join(format!("gateway-host-vm-profile-{}.wat", std::process::id()));
        std::fs::write(&path, r#"(module (func $f (export "proxy_abi_version_0_2_1")) (func $g))"#).unwrap();
        let engine = new_engine().unwrap();
        let exports = |spec: &VmSpec| spec.module.exports().map(|e| e.name().to_string()).collect::<Vec<_>>();
        let plain = VmSpec::compile(&engine, &path, info(), 1000, 1 << 20, false).unwrap();
        assert!(plain.profile.is_none());
        assert_eq!(exports(&plain), ["proxy_abi_version_0_2_1"], "compiled as it is");
        let profiled = VmSpec::compile(&engine, &path, info(), 1000, 1 << 20, true).unwrap();
        let map = profiled.profile.as_ref().unwrap();
        assert_eq!(map.functions.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["f", "g"]);
        assert!(exports(&profiled).contains(&format!("{FUEL_PREFIX}1")), "{:?}", exports(&profiled));
        std::fs::remove_file(&path).unwrap();
    }
}
