//! JWT signing keys (PROTOCOL §10.3): the keyring as stored (public halves in the clear,
//! private halves sealed by a key service), which keys are published and which one signs,
//! and a per-process cache that reads the keyring at most every few minutes and unseals a
//! private key once per process.

use crate::oauth::jwt::PublicKey;
use crate::store::{GetKeyring, StoreError, StoreResult};
use ring::signature::RsaKeyPair;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a JWT may live at most, in seconds (one day), whatever a client's lifetime
/// says: a retired key stays published this long after its successor starts signing,
/// so every token it signed can still be verified.
pub const MAX_JWT_TTL: u64 = 86_400;

/// How long a process trusts the keyring it read: the JWKS's own cache lifetime.
pub const KEYRING_REFRESH: Duration = Duration::from_secs(300);

/// One signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub public: PublicKey,
    pub created_at: u64,
    /// Signs from then on (epoch seconds), until a later key's `active_from`.
    pub active_from: u64,
    /// The key-service key that sealed the private half.
    pub kms_key_id: String,
    /// The private half (PKCS#8 DER), sealed: only the key service can open it.
    pub sealed_private: Vec<u8>,
}

/// Every signing key, oldest first, and a version for conditional writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    pub version: u64,
    pub keys: Vec<SigningKey>,
}

impl Keyring {
    /// The key that signs at `now`: the newest whose `active_from` has come.
    pub fn signing_key(&self, now: u64) -> Option<&SigningKey> {
        self.keys
            .iter()
            .filter(|k| k.active_from <= now)
            .max_by_key(|k| (k.active_from, k.created_at))
    }

    /// The keys a verifier must know at `now`: every key not yet signing (published ahead,
    /// as gateways cache keys), the signing key, and each older key until `MAX_JWT_TTL`
    /// plus `KEYRING_REFRESH` after the key that replaced it started signing: a process
    /// that read the keyring just before the switch signs with the older key for up to
    /// `KEYRING_REFRESH` more, and its last token lives `MAX_JWT_TTL` at most.
    pub fn published(&self, now: u64) -> Vec<&SigningKey> {
        let signing = self.signing_key(now);
        self.keys
            .iter()
            .filter(|k| {
                if k.active_from > now || Some(*k) == signing {
                    return true;
                }
                // Replaced: by the first key that started signing after it.
                let replaced_at = self
                    .keys
                    .iter()
                    .filter(|o| o.active_from > k.active_from && o.active_from <= now)
                    .map(|o| o.active_from)
                    .min();
                let published_for = KEYRING_REFRESH.as_secs() + MAX_JWT_TTL;
                replaced_at.is_some_and(|at| now < at.saturating_add(published_for))
            })
            .collect()
    }
}

/// Opens a sealed private key (the key service's Decrypt).
pub trait Unseal: Send + Sync {
    fn unseal<'a>(
        &'a self,
        key: &'a SigningKey,
    ) -> Pin<Box<dyn Future<Output = StoreResult<Vec<u8>>> + Send + 'a>>;
}

/// Keys whose "sealed" half is the private key itself: for tests and benchmarks only,
/// where no key service runs.
pub struct NotSealed;

impl Unseal for NotSealed {
    fn unseal<'a>(
        &'a self,
        key: &'a SigningKey,
    ) -> Pin<Box<dyn Future<Output = StoreResult<Vec<u8>>> + Send + 'a>> {
        Box::pin(async move { Ok(key.sealed_private.clone()) })
    }
}

/// Why no token could be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// No keyring, or no key signing yet: `oauth-admin create-signing-key` was not run.
    NoSigningKey,
    Store(StoreError),
    /// The unsealed key is not an RSA PKCS#8 key ring accepts.
    Unusable(String),
}

/// After a failed unseal, how long a process answers with that failure before it calls the
/// key service again for the key: a key service that is throttling or down gets one call
/// per key per second (the `Retry-After` its answer carries), not one per request; a key
/// that cannot be unsealed (a denied permission, a disabled key, a private half that does
/// not match) one a minute.
pub const UNSEAL_RETRY_UNAVAILABLE: Duration = Duration::from_secs(1);
pub const UNSEAL_RETRY_FAILED: Duration = Duration::from_secs(60);

/// The process's view of the keyring, refreshed every `KEYRING_REFRESH`, and the private
/// keys it has unsealed (one key-service call per key per process), or failed to, and when.
pub struct JwtKeys {
    unseal: Option<Box<dyn Unseal>>,
    keyring: Mutex<Option<(Arc<Keyring>, Instant)>>,
    unsealed: Mutex<HashMap<String, Arc<RsaKeyPair>>>,
    failed: Mutex<HashMap<String, (Instant, KeyError)>>,
}

impl JwtKeys {
    /// `unseal`: `None` for a process that only verifies (the authorizer).
    pub fn new(unseal: Option<Box<dyn Unseal>>) -> Self {
        JwtKeys {
            unseal,
            keyring: Mutex::new(None),
            unsealed: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
        }
    }

    /// The keyring, from the cache while it is fresh.
    pub async fn keyring<S: GetKeyring>(&self, store: &S) -> StoreResult<Arc<Keyring>> {
        if let Some((ring, at)) = lock(&self.keyring).as_ref()
            && at.elapsed() < KEYRING_REFRESH
        {
            return Ok(ring.clone());
        }
        let ring = Arc::new(store.get_keyring().await?.unwrap_or_default());
        *lock(&self.keyring) = Some((ring.clone(), Instant::now()));
        Ok(ring)
    }

    /// The public keys a verifier must know now.
    pub async fn published<S: GetKeyring>(
        &self,
        store: &S,
        now: u64,
    ) -> StoreResult<Vec<PublicKey>> {
        let ring = self.keyring(store).await?;
        Ok(ring
            .published(now)
            .into_iter()
            .map(|k| k.public.clone())
            .collect())
    }

    /// The key that signs now, unsealed (once per process and key).
    pub async fn signer<S: GetKeyring>(
        &self,
        store: &S,
        now: u64,
    ) -> Result<(String, Arc<RsaKeyPair>), KeyError> {
        let ring = self.keyring(store).await.map_err(KeyError::Store)?;
        let key = ring.signing_key(now).ok_or(KeyError::NoSigningKey)?;
        let kid = key.public.kid.clone();
        if let Some(pair) = lock(&self.unsealed).get(&kid) {
            return Ok((kid, pair.clone()));
        }
        if let Some((at, error)) = lock(&self.failed).get(&kid) {
            let wait = match error {
                KeyError::Store(StoreError::Unavailable(_)) => UNSEAL_RETRY_UNAVAILABLE,
                _ => UNSEAL_RETRY_FAILED,
            };
            if at.elapsed() < wait {
                return Err(error.clone());
            }
        }
        let unseal = self.unseal.as_ref().ok_or(KeyError::NoSigningKey)?;
        match Self::unsealed_pair(unseal.as_ref(), key).await {
            Ok(pair) => {
                lock(&self.failed).remove(&kid);
                lock(&self.unsealed).insert(kid.clone(), pair.clone());
                Ok((kid, pair))
            }
            Err(error) => {
                lock(&self.failed).insert(kid, (Instant::now(), error.clone()));
                Err(error)
            }
        }
    }

    /// One key-service call: the private half of `key`, checked against its public half.
    async fn unsealed_pair(
        unseal: &dyn Unseal,
        key: &SigningKey,
    ) -> Result<Arc<RsaKeyPair>, KeyError> {
        let der = unseal.unseal(key).await.map_err(KeyError::Store)?;
        let pair = RsaKeyPair::from_pkcs8(&der)
            .map(Arc::new)
            .map_err(|e| KeyError::Unusable(e.to_string()))?;
        if PublicKey::of(&key.public.kid, &pair) != key.public {
            return Err(KeyError::Unusable(format!(
                "key {}: the private half does not match the published one",
                key.public.kid
            )));
        }
        Ok(pair)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The test signing key (`tests/data/test-signing-key.pkcs8.b64`), for unit tests.
#[cfg(test)]
pub(crate) const TEST_KEY_PKCS8_B64: &str =
    include_str!("../tests/data/test-signing-key.pkcs8.b64");

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, active_from: u64) -> SigningKey {
        SigningKey {
            public: PublicKey {
                kid: kid.into(),
                n: vec![1],
                e: vec![1],
            },
            created_at: active_from,
            active_from,
            kms_key_id: "k".into(),
            sealed_private: Vec::new(),
        }
    }

    fn kids(ring: &Keyring, now: u64) -> Vec<&str> {
        ring.published(now)
            .iter()
            .map(|k| k.public.kid.as_str())
            .collect()
    }

    #[test]
    fn a_next_key_is_published_at_once_and_signs_only_from_its_time() {
        let ring = Keyring {
            version: 2,
            keys: vec![key("a", 100), key("b", 1000)],
        };
        assert_eq!(ring.signing_key(999).unwrap().public.kid, "a");
        assert_eq!(kids(&ring, 999), ["a", "b"]);
        assert_eq!(ring.signing_key(1000).unwrap().public.kid, "b");
        // The retired key stays published until its last token has expired: one signed
        // by a process whose keyring was read just before the switch.
        let last = 1000 + KEYRING_REFRESH.as_secs() + MAX_JWT_TTL;
        assert_eq!(kids(&ring, last - 1), ["a", "b"]);
        assert_eq!(kids(&ring, last), ["b"]);
        assert!(Keyring::default().signing_key(5).is_none());
    }

    /// A key service that fails every call with `error`, counting them.
    struct Failing {
        error: StoreError,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Unseal for Arc<Failing> {
        fn unseal<'a>(
            &'a self,
            _key: &'a SigningKey,
        ) -> Pin<Box<dyn Future<Output = StoreResult<Vec<u8>>> + Send + 'a>> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { Err(self.error.clone()) })
        }
    }

    #[tokio::test]
    async fn a_failed_unseal_is_not_retried_on_every_request() {
        use crate::store::PutKeyring;
        use crate::store::memory::MemoryStore;
        for error in [
            StoreError::Unavailable("kms:Decrypt: ThrottlingException".into()),
            StoreError::Internal("kms:Decrypt: AccessDeniedException".into()),
        ] {
            let store = MemoryStore::new();
            let ring = Keyring {
                version: 1,
                keys: vec![key("a", 100)],
            };
            assert!(store.put_keyring(None, &ring).await.unwrap());
            let failing = Arc::new(Failing {
                error: error.clone(),
                calls: Default::default(),
            });
            let keys = JwtKeys::new(Some(Box::new(failing.clone())));
            for _ in 0..5 {
                assert_eq!(
                    keys.signer(&store, 200).await.err(),
                    Some(KeyError::Store(error.clone()))
                );
            }
            assert_eq!(failing.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        }
    }
}
