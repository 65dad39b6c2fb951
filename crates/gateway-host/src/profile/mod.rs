//! The fuel profile (`profile_fuel: true`): where each plugin's wasm instructions go, per wasm
//! function. `instrument` rewrites a module at load time with per-function counters; this
//! module holds what the counters mean, the counters read from the VMs, the requests a worker
//! answers with them, and the report (`GET /profile` as JSON or as a text table).

pub mod instrument;
mod scan;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// One defined function of an instrumented module.
#[derive(Debug, Clone)]
pub struct FunctionInfo {
    /// Index in the module's function index space (imports first).
    pub index: u32,
    /// From the `name` section, or `func[INDEX]` without one.
    pub name: String,
}

/// The defined functions of an instrumented module, in order: counter `i` of a VM belongs to
/// `functions[i]`.
#[derive(Debug, Clone)]
pub struct ProfileMap {
    pub functions: Vec<FunctionInfo>,
    /// Whether the module had function names (a `name` section).
    pub named: bool,
}

/// Counters of one plugin, from one VM or summed over several.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Fuel per defined function (self fuel: callees count for themselves).
    pub fuel: Vec<u64>,
    pub calls: Vec<u64>,
    /// Fuel the host metered for the VM calls, net of the instrumentation.
    pub metered: u64,
    /// Fuel the instrumentation's own operators cost (not in `metered`, nor in `fuel`).
    pub overhead: u64,
    /// VMs summed (live ones and, after a trap, the ones they replaced).
    pub vms: u32,
}

impl Counters {
    /// Adds `other` (of the same module) to these counters.
    pub fn add(&mut self, other: &Counters) {
        let grow = |v: &mut Vec<u64>, n: usize| {
            if v.len() < n {
                v.resize(n, 0);
            }
        };
        grow(&mut self.fuel, other.fuel.len());
        grow(&mut self.calls, other.calls.len());
        for (a, b) in self.fuel.iter_mut().zip(&other.fuel) {
            *a += b;
        }
        for (a, b) in self.calls.iter_mut().zip(&other.calls) {
            *a += b;
        }
        self.metered += other.metered;
        self.overhead += other.overhead;
        self.vms += other.vms;
    }
}

/// One plugin's counters on one worker.
#[derive(Debug, Clone)]
pub struct PluginCounters {
    pub plugin: String,
    pub map: Arc<ProfileMap>,
    pub counters: Counters,
}

/// What the admin listener (or [`crate::Gateway`]) asks a worker.
#[derive(Debug)]
pub enum ProfileCommand {
    /// Answer the counters of every plugin on the worker.
    Read(oneshot::Sender<Vec<PluginCounters>>),
    /// Zero them, then answer.
    Reset(oneshot::Sender<()>),
}

/// A worker's end of the profile requests.
pub type ProfileWorker = mpsc::UnboundedSender<ProfileCommand>;

/// Reads the counters of every worker and sums them per plugin (awaits the workers' answers).
pub async fn collect(workers: &[ProfileWorker]) -> FuelProfile {
    let mut all = Vec::new();
    for worker in workers {
        let (tx, rx) = oneshot::channel();
        if worker.send(ProfileCommand::Read(tx)).is_ok()
            && let Ok(counters) = rx.await
        {
            all.extend(counters);
        }
    }
    FuelProfile::from_counters(all)
}

/// Zeroes the counters of every worker (awaits the workers' answers).
pub async fn reset(workers: &[ProfileWorker]) {
    for worker in workers {
        let (tx, rx) = oneshot::channel();
        if worker.send(ProfileCommand::Reset(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The fuel profile of a gateway: per plugin, per wasm function, since start or the last reset.
#[derive(Debug, Clone, Serialize)]
pub struct FuelProfile {
    pub plugins: Vec<PluginProfile>,
}

/// One plugin's profile, summed over its VMs on every worker.
#[derive(Debug, Clone, Serialize)]
pub struct PluginProfile {
    pub plugin: String,
    /// VMs summed (one per worker, plus any a trap replaced).
    pub vms: u32,
    /// Whether the module had function names; without them functions are `func[INDEX]`.
    pub names: bool,
    /// Sum of the functions' fuel: what the unmodified module was charged.
    pub fuel: u64,
    /// Calls of all functions (from the host and from wasm).
    pub calls: u64,
    /// What the host metered for this plugin's VM calls net of the instrumentation; equals
    /// `fuel` unless a call trapped.
    pub metered_fuel: u64,
    /// What the instrumentation's own operators cost on top (not in `fuel`, `metered_fuel`
    /// or `/stats`).
    pub instrumentation_fuel: u64,
    /// Functions that ran, by fuel, most first.
    pub functions: Vec<FunctionProfile>,
}

/// One wasm function's share.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionProfile {
    pub index: u32,
    pub name: String,
    /// Self fuel: the operators of this function, not of its callees.
    pub fuel: u64,
    pub calls: u64,
}

impl FuelProfile {
    /// Sums per plugin (plugins by name), functions sorted by fuel (then index).
    pub fn from_counters(all: Vec<PluginCounters>) -> FuelProfile {
        let mut by_plugin: BTreeMap<String, (Arc<ProfileMap>, Counters)> = BTreeMap::new();
        for c in all {
            by_plugin.entry(c.plugin).or_insert_with(|| (c.map.clone(), Counters::default())).1.add(&c.counters);
        }
        let plugins = by_plugin
            .into_iter()
            .map(|(plugin, (map, c))| {
                let mut functions: Vec<FunctionProfile> = map
                    .functions
                    .iter()
                    .enumerate()
                    .map(|(i, f)| FunctionProfile {
                        index: f.index,
                        name: f.name.clone(),
                        fuel: c.fuel.get(i).copied().unwrap_or(0),
                        calls: c.calls.get(i).copied().unwrap_or(0),
                    })
                    .filter(|f| f.fuel > 0 || f.calls > 0)
                    .collect();
                functions.sort_by(|a, b| b.fuel.cmp(&a.fuel).then(a.index.cmp(&b.index)));
                PluginProfile {
                    plugin,
                    vms: c.vms,
                    names: map.named,
                    fuel: c.fuel.iter().sum(),
                    calls: c.calls.iter().sum(),
                    metered_fuel: c.metered,
                    instrumentation_fuel: c.overhead,
                    functions,
                }
            })
            .collect();
        FuelProfile { plugins }
    }

    /// Fuel of every plugin together.
    pub fn total_fuel(&self) -> u64 {
        self.plugins.iter().map(|p| p.fuel).sum()
    }

    /// The plugin named `name`.
    pub fn plugin(&self, name: &str) -> Option<&PluginProfile> {
        self.plugins.iter().find(|p| p.plugin == name)
    }

    /// The `GET /profile` document, each plugin's functions cut to the first `top` if given.
    pub fn to_json(&self, top: Option<usize>) -> serde_json::Value {
        let mut cut = self.clone();
        for p in &mut cut.plugins {
            p.functions.truncate(top.unwrap_or(usize::MAX));
        }
        let mut doc = serde_json::to_value(&cut).unwrap_or_default();
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("profiling".into(), true.into());
            obj.insert("fuel_total".into(), self.total_fuel().into());
        }
        doc
    }

    /// An aligned table per plugin (`GET /profile?format=text`): fuel, share, calls, fuel per
    /// call and name of the first `top` functions.
    pub fn to_text(&self, top: Option<usize>) -> String {
        let mut out = String::new();
        for p in &self.plugins {
            let _ = writeln!(
                out,
                "plugin {}: {} fuel in {} calls ({} VMs; metered {}, instrumentation {} more){}",
                p.plugin,
                p.fuel,
                p.calls,
                p.vms,
                p.metered_fuel,
                p.instrumentation_fuel,
                if p.names { "" } else { "; no name section: functions are func[INDEX]" }
            );
            let _ =
                writeln!(out, "{:>12} {:>6} {:>9} {:>9} {:>6}  function", "fuel", "%", "calls", "fuel/call", "index");
            let shown = top.unwrap_or(usize::MAX).min(p.functions.len());
            for f in &p.functions[..shown] {
                let share = if p.fuel == 0 { 0.0 } else { 100.0 * f.fuel as f64 / p.fuel as f64 };
                let per_call = f.fuel.checked_div(f.calls).unwrap_or(0);
                let _ = writeln!(
                    out,
                    "{:>12} {share:>6.2} {:>9} {per_call:>9} {:>6}  {}",
                    f.fuel, f.calls, f.index, f.name
                );
            }
            if shown < p.functions.len() {
                let rest: u64 = p.functions[shown..].iter().map(|f| f.fuel).sum();
                let more = p.functions.len() - shown;
                let _ = writeln!(out, "{rest:>12} {:>6} {:>9} {:>9} {:>6}  ({more} more functions)", "", "", "", "");
            }
            out.push('\n');
        }
        out
    }
}

/// The `GET /profile` document when profiling is off.
pub fn off_json() -> serde_json::Value {
    serde_json::json!({
        "profiling": false,
        "hint": "start the gateway with `profile_fuel: true` in its config (or `serve --profile-fuel`)",
        "plugins": [],
    })
}
