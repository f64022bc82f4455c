//! `oauth-admin create-signing-key` and `rotate-signing-key` (PROTOCOL §10.3): RSA keys
//! generated here, their private halves sealed by KMS before anything is stored, their
//! public halves published through the keyring in the tokens table.
//!
//! Key generation uses the `rsa` crate because `ring` cannot generate RSA keys and KMS's
//! GenerateDataKeyPair is not implemented by every endpoint this tool runs against (moto
//! locally). The key never leaves this process unsealed: it is sealed with KMS `Encrypt`
//! and dropped; signing and verification are `ring`'s.

use super::AdminError;
use crate::keys::{Keyring, SigningKey};
use crate::kms;
use crate::oauth::jwt::PublicKey;
use crate::store::PutKeyring;
use crate::store::dynamodb::error_detail;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::signature::RsaKeyPair;
use rsa::pkcs8::EncodePrivateKey;

/// RSA modulus size: API Gateway's JWT authorizer wants RSA; 2048 bits is the floor.
const RSA_BITS: usize = 2048;

/// The alias of the KMS key this tool creates when none is named.
pub const DEFAULT_KMS_ALIAS: &str = "alias/oauth-token-service-signing";

/// What a key command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    pub kid: String,
    pub kms_key_id: String,
    pub active_from: u64,
    /// `false`: a key existed already and nothing was written.
    pub created: bool,
    /// Keys published after the command.
    pub published: Vec<String>,
}

/// Makes the first signing key, signing at once. Safe to rerun: with a key in place it
/// writes nothing and reports the signing key.
pub async fn create_signing_key(
    store: &impl PutKeyring,
    kms_client: &aws_sdk_kms::Client,
    kms_key_id: Option<&str>,
    now: u64,
) -> Result<KeyReport, AdminError> {
    if let Some(ring) = store.get_keyring().await?
        && let Some(key) = ring.signing_key(now).or(ring.keys.last())
    {
        return Ok(report(&ring, key, false, now));
    }
    let kms_key_id = match kms_key_id {
        Some(id) => id.to_owned(),
        None => own_kms_key(kms_client).await?,
    };
    let key = new_key(kms_client, &kms_key_id, now, now).await?;
    let ring = Keyring {
        version: 1,
        keys: vec![key.clone()],
    };
    if !store.put_keyring(None, &ring).await? {
        return Err(AdminError::Input(
            "another signing key was created meanwhile; nothing was written: run the command \
             again"
                .into(),
        ));
    }
    Ok(report(&ring, &key, true, now))
}

/// Publishes a next key at once, under the same KMS key as the newest, signing only
/// `publish_seconds` from now (gateways cache keys for up to two hours). Keys no longer
/// published are dropped from the keyring.
pub async fn rotate_signing_key(
    store: &impl PutKeyring,
    kms_client: &aws_sdk_kms::Client,
    publish_seconds: u64,
    now: u64,
) -> Result<KeyReport, AdminError> {
    let Some(ring) = store.get_keyring().await? else {
        return Err(AdminError::Input(
            "there is no signing key yet: run `oauth-admin create-signing-key` first".into(),
        ));
    };
    let Some(newest) = ring.keys.last() else {
        return Err(AdminError::Input(
            "the keyring is empty: run `oauth-admin create-signing-key` first".into(),
        ));
    };
    let active_from = now.saturating_add(publish_seconds);
    let key = new_key(kms_client, &newest.kms_key_id.clone(), now, active_from).await?;
    let mut keys: Vec<SigningKey> = ring.published(now).into_iter().cloned().collect();
    keys.push(key.clone());
    let next = Keyring {
        version: ring.version + 1,
        keys,
    };
    if !store.put_keyring(Some(ring.version), &next).await? {
        return Err(AdminError::Input(
            "the keyring changed while this command ran; nothing was written: run it again".into(),
        ));
    }
    Ok(report(&next, &key, true, now))
}

fn report(ring: &Keyring, key: &SigningKey, created: bool, now: u64) -> KeyReport {
    KeyReport {
        kid: key.public.kid.clone(),
        kms_key_id: key.kms_key_id.clone(),
        active_from: key.active_from,
        created,
        published: ring
            .published(now)
            .iter()
            .map(|k| k.public.kid.clone())
            .collect(),
    }
}

/// A new RSA key, sealed under `kms_key_id`.
async fn new_key(
    kms_client: &aws_sdk_kms::Client,
    kms_key_id: &str,
    now: u64,
    active_from: u64,
) -> Result<SigningKey, AdminError> {
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, RSA_BITS)
        .map_err(|e| AdminError::Internal(format!("RSA key generation failed: {e}")))?;
    let der = private
        .to_pkcs8_der()
        .map_err(|e| AdminError::Internal(format!("PKCS#8 encoding failed: {e}")))?;
    let pair = RsaKeyPair::from_pkcs8(der.as_bytes())
        .map_err(|e| AdminError::Internal(format!("the new key is not usable: {e}")))?;
    // The key id: a short digest of the public key, so the same key always has the same id.
    let n = PublicKey::of("", &pair).n;
    let digest = ring::digest::digest(&ring::digest::SHA256, &n);
    let kid = B64URL.encode(&digest.as_ref()[..12]);
    let sealed_private = kms::seal(kms_client, kms_key_id, der.as_bytes()).await?;
    Ok(SigningKey {
        public: PublicKey::of(&kid, &pair),
        created_at: now,
        active_from,
        kms_key_id: kms_key_id.to_owned(),
        sealed_private,
    })
}

/// The KMS key behind [`DEFAULT_KMS_ALIAS`], created (with the alias) when missing.
async fn own_kms_key(client: &aws_sdk_kms::Client) -> Result<String, AdminError> {
    match client.describe_key().key_id(DEFAULT_KMS_ALIAS).send().await {
        Ok(out) => {
            if let Some(id) = out.key_metadata().map(|m| m.key_id().to_owned()) {
                return Ok(id);
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) => {}
        Err(e) => return Err(AdminError::Unavailable(error_detail("kms:DescribeKey", &e))),
    }
    let created = client
        .create_key()
        .description("oauth-token-service: seals the JWT signing keys")
        .send()
        .await
        .map_err(|e| AdminError::Internal(error_detail("kms:CreateKey", &e)))?;
    let id = created
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .ok_or_else(|| AdminError::Internal("kms:CreateKey: no key id".into()))?;
    client
        .create_alias()
        .alias_name(DEFAULT_KMS_ALIAS)
        .target_key_id(&id)
        .send()
        .await
        .map_err(|e| AdminError::Internal(error_detail("kms:CreateAlias", &e)))?;
    Ok(id)
}
