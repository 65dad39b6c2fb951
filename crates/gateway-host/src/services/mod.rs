//! The services host calls reach on one worker, above the plain values and below the VM:
//! the Redis connection pool, the upstream HTTP clients and their clusters, and the state
//! every worker shares (shared data, queues, metrics, logs, fuel).

pub mod redis;
pub mod shared;
pub mod upstream;

use std::collections::HashMap;

use redis::RedisPool;
use upstream::{ClusterState, UpstreamPool};

/// What host calls on one worker can reach (one per worker, shared by its VMs).
pub struct Services {
    pub clusters: HashMap<String, ClusterState>,
    pub redis: RedisPool,
    pub upstream: UpstreamPool,
    pub log_filter: log::LevelFilter,
}
