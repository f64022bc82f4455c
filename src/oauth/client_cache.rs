//! The warm function's memory of client records (`CLIENT_CACHE_SECONDS`, PROTOCOL §8.1).
//!
//! A client record read within the cache's lifetime is used again instead of being read,
//! so that a warm `client_credentials` issuance costs no read of the clients table. What
//! that trades: a client disabled, deleted or given a new secret goes on authenticating on
//! a warm instance for up to the lifetime (its tokens are still revoked at once, since no
//! token check reads the cache). A failed authentication against a kept record reads the
//! record again before it answers and keeps what it read (`Issuer::reread_client`), so a
//! client presenting a secret newer than the cached record succeeds on its next request,
//! and a wrong secret costs one read whether or not the id was cached.
//! Only records that exist are kept: an unknown client id is read every time.

use super::model::ClientRecord;
use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many records are kept; when full, expired ones go, then all of them.
const MAX_ENTRIES: usize = 4096;

pub struct ClientCache {
    lifetime_ms: u64,
    entries: Mutex<Option<HashMap<String, Entry>>>,
}

struct Entry {
    read_at_ms: u64,
    record: ClientRecord,
}

impl ClientCache {
    /// A cache keeping records for `lifetime_secs` seconds; 0 keeps nothing.
    pub const fn new(lifetime_secs: u64) -> Self {
        ClientCache {
            lifetime_ms: lifetime_secs.saturating_mul(1000),
            entries: Mutex::new(None),
        }
    }

    pub fn is_on(&self) -> bool {
        self.lifetime_ms > 0
    }

    /// The record of `client_id` if it was read less than the lifetime before `now_ms`.
    pub fn get(&self, client_id: &str, now_ms: u64) -> Option<ClientRecord> {
        if !self.is_on() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .as_ref()?
            .get(client_id)
            .filter(|e| self.fresh(e, now_ms))
            .map(|e| e.record.clone())
    }

    /// Keeps `record`, read at `read_at_ms`.
    pub fn put(&self, record: &ClientRecord, read_at_ms: u64) {
        if !self.is_on() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let map = entries.get_or_insert_with(HashMap::new);
        if map.len() >= MAX_ENTRIES && !map.contains_key(&record.client_id) {
            map.retain(|_, e| self.fresh(e, read_at_ms));
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            record.client_id.clone(),
            Entry {
                read_at_ms,
                record: record.clone(),
            },
        );
    }

    /// Forgets `client_id`'s record, so that its next request reads it.
    pub fn forget(&self, client_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = entries.as_mut() {
            map.remove(client_id);
        }
    }

    fn fresh(&self, entry: &Entry, now_ms: u64) -> bool {
        now_ms >= entry.read_at_ms && now_ms - entry.read_at_ms < self.lifetime_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ClientRecord {
        ClientRecord::new(id, id, "hmac-sha256$x$y".into(), 0)
    }

    #[test]
    fn a_record_is_reused_within_its_lifetime_and_not_after() {
        let cache = ClientCache::new(30);
        cache.put(&record("a"), 1_000);
        assert!(cache.get("a", 1_000).is_some());
        assert!(cache.get("a", 30_999).is_some());
        assert!(cache.get("a", 31_000).is_none());
        assert!(cache.get("b", 1_000).is_none());
    }

    #[test]
    fn off_keeps_nothing() {
        let cache = ClientCache::new(0);
        cache.put(&record("a"), 1_000);
        assert!(cache.get("a", 1_000).is_none());
    }

    #[test]
    fn a_forgotten_record_is_read_again() {
        let cache = ClientCache::new(30);
        cache.put(&record("a"), 1_000);
        cache.forget("a");
        assert!(cache.get("a", 1_001).is_none());
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = ClientCache::new(30);
        for i in 0..MAX_ENTRIES {
            cache.put(&record(&format!("c{i}")), 1_000);
        }
        cache.put(&record("new"), 2_000);
        assert!(cache.get("new", 2_000).is_some());
        let len = cache.entries.lock().unwrap().as_ref().unwrap().len();
        assert!(len <= MAX_ENTRIES, "{len}");
    }
}
