//! token-limit (work in progress).
