//! cluster-rate-limit (work in progress).
