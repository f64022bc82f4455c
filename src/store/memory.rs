//! An in-memory store with the same semantics as the DynamoDB one, for unit tests and
//! benchmarks of the request path without a network.

use super::*;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Tables {
    clients: HashMap<String, ClientRecord>,
    tokens: HashMap<String, TokenRecord>,
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

    pub fn put_client(&self, client: ClientRecord) {
        self.lock().clients.insert(client.client_id.clone(), client);
    }

    /// Every stored token, for assertions.
    pub fn tokens(&self) -> Vec<TokenRecord> {
        self.lock().tokens.values().cloned().collect()
    }
}

impl GetClient for MemoryStore {
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        Ok(self.lock().clients.get(client_id).cloned())
    }
}

impl GetToken for MemoryStore {
    async fn get_token(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        Ok(self.lock().tokens.get(token_hash).cloned())
    }
}

impl GetClientAndToken for MemoryStore {
    async fn get_client_and_token(
        &self,
        client_id: &str,
        token_hash: &str,
    ) -> StoreResult<(Option<ClientRecord>, Option<TokenRecord>)> {
        let t = self.lock();
        Ok((
            t.clients.get(client_id).cloned(),
            t.tokens.get(token_hash).cloned(),
        ))
    }
}

impl PutTokens for MemoryStore {
    async fn put_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
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
    async fn rotate_refresh(
        &self,
        old_hash: &str,
        client_id: &str,
        now_ms: u64,
        new_tokens: &[TokenRecord],
    ) -> StoreResult<bool> {
        let mut t = self.lock();
        match t.tokens.get_mut(old_hash) {
            Some(old)
                if old.kind == TokenKind::Refresh
                    && old.client_id == client_id
                    && old.is_live(now_ms / 1000) =>
            {
                old.used_at_ms = Some(now_ms);
            }
            _ => return Ok(false),
        }
        for n in new_tokens {
            t.tokens.insert(n.token_hash.clone(), n.clone());
        }
        Ok(true)
    }
}

impl Revoke for MemoryStore {
    async fn revoke_token(&self, token_hash: &str) -> StoreResult<()> {
        if let Some(tok) = self.lock().tokens.get_mut(token_hash) {
            tok.revoked = true;
        }
        Ok(())
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<()> {
        for tok in self.lock().tokens.values_mut() {
            if tok.family == family {
                tok.revoked = true;
            }
        }
        Ok(())
    }
}
