//! Process-wide state every worker and VM shares: shared data (with CAS), shared queues,
//! metrics, captured plugin logs and per-request fuel (wasm instruction) statistics.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::UnboundedSender;

use crate::profile::ProfileWorker;
use crate::values::{FuelStats, LogRecord, Metric, VmEvent};

/// How many log records and per-request fuel samples are kept.
const KEEP: usize = 10_000;

/// A shared-data value and its CAS counter.
type SharedValue = (Vec<u8>, u32);

#[derive(Default)]
struct Queue {
    vm_id: String,
    name: String,
    items: VecDeque<Vec<u8>>,
    /// Who registered it: woken with `proxy_on_queue_ready`.
    owner: Option<(UnboundedSender<VmEvent>, u32)>,
}

/// Everything shared across workers of one gateway.
#[derive(Default)]
pub struct SharedState {
    data: Mutex<HashMap<Vec<u8>, SharedValue>>,
    queues: Mutex<Vec<Queue>>,
    metrics: Mutex<Vec<Metric>>,
    logs: Mutex<VecDeque<LogRecord>>,
    fuel: Mutex<FuelStats>,
    /// Milliseconds added to the system clock for plugins (tests move time with it).
    clock_offset_ms: AtomicI64,
    /// Where each worker takes fuel-profile requests (empty when profiling is off).
    profile_workers: Mutex<Vec<ProfileWorker>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SharedState {
    /// The wall-clock time plugins see: the system clock plus the offset a test set.
    pub fn now(&self) -> SystemTime {
        let offset = self.clock_offset_ms.load(Ordering::Relaxed);
        let real = SystemTime::now();
        let shifted = if offset >= 0 {
            real.checked_add(Duration::from_millis(offset.unsigned_abs()))
        } else {
            real.checked_sub(Duration::from_millis(offset.unsigned_abs()))
        };
        shifted.unwrap_or(real)
    }

    /// Nanoseconds since the Unix epoch of [`SharedState::now`].
    pub fn now_nanos(&self) -> u64 {
        u64::try_from(self.now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Makes plugins see `time` now (the clock keeps running from there).
    pub fn set_time(&self, time: SystemTime) {
        let signed_ms = |t: SystemTime| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        };
        let offset = signed_ms(time).saturating_sub(signed_ms(SystemTime::now()));
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
    }

    pub fn get_data(&self, key: &[u8]) -> Option<(Vec<u8>, u32)> {
        lock(&self.data).get(key).cloned()
    }

    /// Sets a value; `cas` 0 means unconditional. Returns false on a CAS mismatch.
    pub fn set_data(&self, key: &[u8], value: &[u8], cas: u32) -> bool {
        let mut data = lock(&self.data);
        let entry = data.entry(key.to_vec()).or_insert((Vec::new(), 0));
        if cas != 0 && cas != entry.1 {
            return false;
        }
        entry.0 = value.to_vec();
        entry.1 = entry.1.wrapping_add(1).max(1);
        true
    }

    pub fn register_queue(&self, vm_id: &str, name: &str, owner: (UnboundedSender<VmEvent>, u32)) -> u32 {
        let mut queues = lock(&self.queues);
        if let Some(i) = queues.iter().position(|q| q.vm_id == vm_id && q.name == name) {
            queues[i].owner = Some(owner);
            return i as u32 + 1;
        }
        queues.push(Queue {
            vm_id: vm_id.to_string(),
            name: name.to_string(),
            items: VecDeque::new(),
            owner: Some(owner),
        });
        queues.len() as u32
    }

    pub fn resolve_queue(&self, vm_id: &str, name: &str) -> Option<u32> {
        lock(&self.queues).iter().position(|q| q.vm_id == vm_id && q.name == name).map(|i| i as u32 + 1)
    }

    /// Appends to a queue and wakes its owner. False for an unknown id.
    pub fn enqueue(&self, id: u32, value: &[u8]) -> bool {
        let mut queues = lock(&self.queues);
        let Some(q) = (id as usize).checked_sub(1).and_then(|i| queues.get_mut(i)) else {
            return false;
        };
        q.items.push_back(value.to_vec());
        if let Some((tx, root)) = &q.owner {
            let _ = tx.send(VmEvent::QueueReady { root_id: *root, queue_id: id });
        }
        true
    }

    /// `Err(())` for an unknown id, `Ok(None)` when empty.
    #[allow(clippy::result_unit_err)]
    pub fn dequeue(&self, id: u32) -> Result<Option<Vec<u8>>, ()> {
        let mut queues = lock(&self.queues);
        let q = (id as usize).checked_sub(1).and_then(|i| queues.get_mut(i)).ok_or(())?;
        Ok(q.items.pop_front())
    }

    pub fn define_metric(&self, kind: u32, name: &str) -> u32 {
        let mut metrics = lock(&self.metrics);
        if let Some(i) = metrics.iter().position(|m| m.name == name) {
            return i as u32 + 1;
        }
        metrics.push(Metric { name: name.to_string(), kind, value: 0 });
        metrics.len() as u32
    }

    /// Applies `f` to a metric; false for an unknown id.
    pub fn with_metric(&self, id: u32, f: impl FnOnce(&mut Metric)) -> bool {
        let mut metrics = lock(&self.metrics);
        match (id as usize).checked_sub(1).and_then(|i| metrics.get_mut(i)) {
            Some(m) => {
                f(m);
                true
            }
            None => false,
        }
    }

    /// All metrics defined so far.
    pub fn metrics(&self) -> Vec<Metric> {
        lock(&self.metrics).clone()
    }

    pub fn push_log(&self, record: LogRecord) {
        let mut logs = lock(&self.logs);
        if logs.len() >= KEEP {
            logs.pop_front();
        }
        logs.push_back(record);
    }

    /// The captured plugin logs (most recent 10 000).
    pub fn logs(&self) -> Vec<LogRecord> {
        lock(&self.logs).iter().cloned().collect()
    }

    pub fn record_request_fuel(&self, fuel: u64) {
        let mut stats = lock(&self.fuel);
        stats.requests += 1;
        stats.total += fuel;
        if stats.recent.len() >= KEEP {
            stats.recent.pop_front();
        }
        stats.recent.push_back(fuel);
    }

    pub fn fuel(&self) -> FuelStats {
        lock(&self.fuel).clone()
    }

    /// A worker with profiled VMs announces where it takes fuel-profile requests.
    pub fn register_profile_worker(&self, worker: ProfileWorker) {
        lock(&self.profile_workers).push(worker);
    }

    /// The workers answering fuel-profile requests; none when profiling is off.
    pub fn profile_workers(&self) -> Vec<ProfileWorker> {
        lock(&self.profile_workers).clone()
    }
}
