//! Host metrics (Envoy stats): counters, gauges and histograms, defined once at configure time.

use crate::abi::{MetricKind, host};

/// A monotonically increasing count.
#[derive(Debug, Clone, Copy)]
pub struct Counter(Option<u32>);

/// A value that goes up and down.
#[derive(Debug, Clone, Copy)]
pub struct Gauge(Option<u32>);

/// A distribution of recorded values.
#[derive(Debug, Clone, Copy)]
pub struct Histogram(Option<u32>);

impl Counter {
    /// Defines (or looks up) the counter `name`. If the host refuses, the counter does nothing.
    pub fn new(name: &str) -> Self {
        Counter(host::define_metric(MetricKind::Counter, name))
    }

    /// Adds 1.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        if let Some(id) = self.0 {
            host::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

impl Gauge {
    /// Defines (or looks up) the gauge `name`.
    pub fn new(name: &str) -> Self {
        Gauge(host::define_metric(MetricKind::Gauge, name))
    }

    /// Sets the value.
    pub fn set(&self, value: u64) {
        if let Some(id) = self.0 {
            host::record_metric(id, value);
        }
    }

    /// Adds `delta` (may be negative).
    pub fn add(&self, delta: i64) {
        if let Some(id) = self.0 {
            host::increment_metric(id, delta);
        }
    }
}

impl Histogram {
    /// Defines (or looks up) the histogram `name`.
    pub fn new(name: &str) -> Self {
        Histogram(host::define_metric(MetricKind::Histogram, name))
    }

    /// Records one value.
    pub fn record(&self, value: u64) {
        if let Some(id) = self.0 {
            host::record_metric(id, value);
        }
    }
}
