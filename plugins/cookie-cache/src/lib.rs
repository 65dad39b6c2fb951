//! cookie-cache (work in progress).
