//! Wall-clock time as the protocol writes it. Depends on nothing in the crate, so the
//! stores, the journal and the hub all read time the same way without importing each
//! other.

/// Milliseconds since the Unix epoch: the protocol's `ts`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
