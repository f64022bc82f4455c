//! An in-memory store with the same semantics as the DynamoDB one, for unit tests and
//! benchmarks of the request path without a network. Each operation yields to the
//! scheduler once before it acts, as a round trip would, so that concurrent requests
//! interleave here as they do against DynamoDB.

use super::*;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Tables {
    clients: HashMap<String, ClientRecord>,
    tokens: HashMap<String, TokenRecord>,
    families: HashMap<String, FamilyRecord>,
    keyring: Option<Keyring>,
    /// Revoked JWTs' `jti`, with when they expire.
    revoked_jwts: HashMap<String, u64>,
    /// Clients whose tokens were revoked, with when (epoch seconds): their JWTs issued
    /// until then are refused.
    revoked_clients: HashMap<String, u64>,
    /// Quota counts by client id and window start.
    quotas: HashMap<(String, u64), u64>,
    /// The admin tool's audit trail, in the order appended.
    audit: Vec<AuditRecord>,
    /// Tests: appending to the audit trail fails while set.
    audit_unavailable: bool,
}

/// Where a request to a real store would wait for its answer.
async fn round_trip() {
    tokio::task::yield_now().await;
}

/// Clients and tokens behind one lock.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panic elsewhere while holding the lock leaves consistent maps behind.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a client whole, replacing any (test and benchmark set-up).
    pub fn put_client(&self, client: ClientRecord) {
        self.lock().clients.insert(client.client_id.clone(), client);
    }

    /// Changes a stored token behind the service's back (tests: an aged or expired token).
    pub fn update_token(&self, token_hash: &str, change: impl FnOnce(&mut TokenRecord)) {
        if let Some(t) = self.lock().tokens.get_mut(token_hash) {
            change(t);
        }
    }

    /// Marks a family's record revoked and nothing else (tests: a family revocation whose
    /// sweep never ran).
    pub fn revoke_family_record(&self, family: &str) {
        self.lock()
            .families
            .entry(family.to_owned())
            .or_insert_with(|| FamilyRecord {
                family: family.to_owned(),
                revoked: false,
                current_refresh: None,
            })
            .revoked = true;
    }

    /// Every stored token, for assertions.
    pub fn tokens(&self) -> Vec<TokenRecord> {
        self.lock().tokens.values().cloned().collect()
    }
}

impl GetClient for MemoryStore {
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        round_trip().await;
        Ok(self.lock().clients.get(client_id).cloned())
    }
}

impl GetToken for MemoryStore {
    async fn get_token(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        round_trip().await;
        Ok(self.lock().tokens.get(token_hash).cloned())
    }
}

impl GetClientAndToken for MemoryStore {
    async fn get_client_and_token(
        &self,
        client_id: &str,
        token_hash: &str,
    ) -> StoreResult<(Option<ClientRecord>, Option<TokenRecord>)> {
        round_trip().await;
        let t = self.lock();
        Ok((
            t.clients.get(client_id).cloned(),
            t.tokens.get(token_hash).cloned(),
        ))
    }
}

impl PutTokens for MemoryStore {
    async fn put_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        round_trip().await;
        let mut t = self.lock();
        if tokens.iter().any(|n| t.tokens.contains_key(&n.token_hash)) {
            return Err(StoreError::Internal("token hash collision".into()));
        }
        for n in tokens {
            t.tokens.insert(n.token_hash.clone(), n.clone());
        }
        Ok(())
    }
}

impl RotateRefresh for MemoryStore {
    async fn rotate_refresh(&self, r: &Rotation<'_>) -> StoreResult<bool> {
        round_trip().await;
        let mut t = self.lock();
        if t.tokens.contains_key(&r.refresh.token_hash) {
            // A retry of a rotation that committed.
            return Ok(true);
        }
        let family = &r.old.family;
        if let Some(f) = t.families.get(family) {
            if f.revoked || f.current() != r.expected_current() {
                return Ok(false);
            }
        } else if r.expected_current() != family.as_str() {
            return Ok(false);
        }
        match r.supersede {
            None => match t.tokens.get_mut(&r.old.token_hash) {
                Some(old)
                    if old.kind == TokenKind::Refresh
                        && old.client_id == r.client_id
                        && old.is_live(r.now_ms / 1000) =>
                {
                    old.used_at_ms = Some(r.now_ms);
                    old.answer_by_ms = Some(r.answer_by_ms);
                }
                _ => return Ok(false),
            },
            Some(current) => match t.tokens.get_mut(current) {
                Some(cur) => {
                    cur.revoked = true;
                    cur.used_at_ms = Some(r.now_ms);
                    cur.answer_by_ms = Some(r.answer_by_ms);
                }
                None => return Ok(false),
            },
        }
        t.families.insert(
            family.clone(),
            FamilyRecord {
                family: family.clone(),
                revoked: false,
                current_refresh: Some(r.refresh.token_hash.clone()),
            },
        );
        for n in r.access.into_iter().chain([r.refresh]) {
            t.tokens.insert(n.token_hash.clone(), n.clone());
        }
        Ok(true)
    }

    async fn mark_answered(&self, old_hash: &str, at_ms: u64) -> StoreResult<()> {
        round_trip().await;
        if let Some(old) = self.lock().tokens.get_mut(old_hash) {
            old.answered_at_ms = Some(at_ms);
        }
        Ok(())
    }
}

impl GetFamily for MemoryStore {
    async fn get_family(&self, family: &str) -> StoreResult<Option<FamilyRecord>> {
        round_trip().await;
        Ok(self.lock().families.get(family).cloned())
    }
}

impl Revoke for MemoryStore {
    async fn revoke_token(&self, token_hash: &str) -> StoreResult<()> {
        round_trip().await;
        if let Some(tok) = self.lock().tokens.get_mut(token_hash) {
            tok.revoked = true;
        }
        Ok(())
    }

    async fn revoke_family(&self, member: &TokenRecord, _now: u64) -> StoreResult<()> {
        round_trip().await;
        let mut t = self.lock();
        let family = t
            .families
            .entry(member.family.clone())
            .or_insert_with(|| FamilyRecord {
                family: member.family.clone(),
                revoked: false,
                current_refresh: None,
            });
        family.revoked = true;
        let current = family.current().to_owned();
        let mut doomed = vec![(current.clone(), 0)];
        if let Some(cur) = t.tokens.get(&current) {
            doomed.extend(
                cur.family_tokens
                    .iter()
                    .map(|a| (a.token_hash.clone(), a.expires_at)),
            );
        }
        for (key, expires_at) in doomed {
            if let Some(jti) = key.strip_prefix(JWT_LIST_PREFIX) {
                t.revoked_jwts.insert(jti.to_owned(), expires_at);
            } else if let Some(tok) = t.tokens.get_mut(&key) {
                tok.revoked = true;
            }
        }
        Ok(())
    }
}

impl ClientAdmin for MemoryStore {
    type AsRead = ClientRecord;

    async fn read_client(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(ClientRecord, ClientRecord)>> {
        round_trip().await;
        Ok(self
            .lock()
            .clients
            .get(client_id)
            .map(|c| (c.clone(), c.clone())))
    }

    async fn create_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        round_trip().await;
        let mut t = self.lock();
        if t.clients.contains_key(&client.client_id) {
            return Ok(false);
        }
        t.clients.insert(client.client_id.clone(), client.clone());
        Ok(true)
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        round_trip().await;
        Ok(self.lock().clients.values().cloned().collect())
    }

    async fn replace_client(
        &self,
        as_read: &ClientRecord,
        next: &ClientRecord,
    ) -> StoreResult<bool> {
        round_trip().await;
        let mut t = self.lock();
        match t.clients.get_mut(&as_read.client_id) {
            Some(stored) if stored == as_read && next.client_id == as_read.client_id => {
                *stored = next.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_disabled_client(&self, client_id: &str) -> StoreResult<bool> {
        round_trip().await;
        let mut t = self.lock();
        match t.clients.get(client_id) {
            Some(c) if c.disabled => {
                t.clients.remove(client_id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_client_tokens(&self, client_id: &str, now: u64) -> StoreResult<u64> {
        round_trip().await;
        let mut revoked = 0;
        let mut t = self.lock();
        t.revoked_clients
            .entry(client_id.to_owned())
            .and_modify(|at| *at = (*at).max(now))
            .or_insert(now);
        for tok in t.tokens.values_mut() {
            if tok.client_id == client_id && tok.is_live(now) {
                tok.revoked = true;
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}

impl GetKeyring for MemoryStore {
    async fn get_keyring(&self) -> StoreResult<Option<Keyring>> {
        round_trip().await;
        Ok(self.lock().keyring.clone())
    }
}

impl PutKeyring for MemoryStore {
    async fn put_keyring(
        &self,
        expected_version: Option<u64>,
        keyring: &Keyring,
    ) -> StoreResult<bool> {
        round_trip().await;
        let mut t = self.lock();
        if t.keyring.as_ref().map(|k| k.version) != expected_version {
            return Ok(false);
        }
        t.keyring = Some(keyring.clone());
        Ok(true)
    }
}

impl JwtRevocations for MemoryStore {
    async fn revoke_jwt(&self, jti: &str, expires_at: u64) -> StoreResult<()> {
        round_trip().await;
        self.lock().revoked_jwts.insert(jti.to_owned(), expires_at);
        Ok(())
    }

    async fn is_jwt_revoked(&self, claims: &Claims) -> StoreResult<bool> {
        round_trip().await;
        let t = self.lock();
        Ok(t.revoked_jwts.contains_key(&claims.jti)
            || t.revoked_clients
                .get(&claims.client_id)
                .is_some_and(|at| claims.iat <= *at)
            || claims
                .sid
                .as_ref()
                .and_then(|f| t.families.get(f))
                .is_some_and(|f| f.revoked))
    }
}

impl Quotas for MemoryStore {
    async fn take_quota(
        &self,
        client_id: &str,
        window_start: u64,
        max: u64,
        _expires_at: u64,
    ) -> StoreResult<bool> {
        round_trip().await;
        let mut tables = self.lock();
        let used = tables
            .quotas
            .entry((client_id.to_owned(), window_start))
            .or_insert(0);
        if *used >= max {
            return Ok(false);
        }
        *used += 1;
        Ok(true)
    }

    async fn return_quota(&self, client_id: &str, window_start: u64) -> StoreResult<()> {
        round_trip().await;
        if let Some(used) = self
            .lock()
            .quotas
            .get_mut(&(client_id.to_owned(), window_start))
        {
            *used = used.saturating_sub(1);
        }
        Ok(())
    }

    async fn quota_used(&self, client_id: &str, window_start: u64) -> StoreResult<u64> {
        round_trip().await;
        Ok(self
            .lock()
            .quotas
            .get(&(client_id.to_owned(), window_start))
            .copied()
            .unwrap_or(0))
    }
}

impl MemoryStore {
    /// Makes appending to the audit trail fail (tests: a change made but not recorded).
    pub fn set_audit_unavailable(&self, unavailable: bool) {
        self.lock().audit_unavailable = unavailable;
    }
}

impl AuditLog for MemoryStore {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()> {
        round_trip().await;
        let mut t = self.lock();
        if t.audit_unavailable {
            return Err(StoreError::Unavailable(
                "PutItem: the audit trail is unavailable".into(),
            ));
        }
        if t.audit.iter().any(|r| r.id == record.id) {
            return Err(StoreError::Internal(format!(
                "audit record {} exists already",
                record.id
            )));
        }
        t.audit.push(record.clone());
        Ok(())
    }

    async fn list_audit(&self, client_id: Option<&str>) -> StoreResult<Vec<AuditRecord>> {
        round_trip().await;
        let mut records: Vec<AuditRecord> = self
            .lock()
            .audit
            .iter()
            .filter(|r| client_id.is_none() || r.client_id.as_deref() == client_id)
            .cloned()
            .collect();
        // Stable: records of the same millisecond stay in the order appended.
        records.sort_by_key(|r| r.at_ms);
        Ok(records)
    }
}
