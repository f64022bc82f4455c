//! The key service (AWS KMS) that seals JWT signing keys: the admin tool seals a private
//! key with `Encrypt`, and the token function unseals it with one `Decrypt` per key per
//! process (PROTOCOL §10.3). No key is ever sent to or read from the service in plain text
//! anywhere else.

use crate::keys::{SigningKey, Unseal};
use crate::store::dynamodb::{classify, error_detail};
use crate::store::{StoreError, StoreResult};
use aws_sdk_kms::primitives::Blob;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

/// Unseals signing keys through KMS `Decrypt`.
pub struct KmsUnseal {
    client: KmsClient,
}

enum KmsClient {
    Built(aws_sdk_kms::Client),
    /// Built from the configuration at the first unseal.
    OnFirstUse(Box<aws_config::SdkConfig>, OnceLock<aws_sdk_kms::Client>),
}

impl KmsUnseal {
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        KmsUnseal {
            client: KmsClient::Built(client),
        }
    }

    /// A client built from `config` at the first unseal, not before: the token function
    /// starts without one (constructing it, its endpoint rules included, is a tenth of a
    /// millisecond or two of start-up), and a function whose clients are all opaque never
    /// builds it. The first JWT issuance of a process already waits for a `Decrypt`.
    pub fn on_first_use(config: aws_config::SdkConfig) -> Self {
        KmsUnseal {
            client: KmsClient::OnFirstUse(Box::new(config), OnceLock::new()),
        }
    }

    fn client(&self) -> &aws_sdk_kms::Client {
        match &self.client {
            KmsClient::Built(client) => client,
            KmsClient::OnFirstUse(config, cell) => {
                cell.get_or_init(|| aws_sdk_kms::Client::new(config))
            }
        }
    }
}

impl Unseal for KmsUnseal {
    fn unseal<'a>(
        &'a self,
        key: &'a SigningKey,
    ) -> Pin<Box<dyn Future<Output = StoreResult<Vec<u8>>> + Send + 'a>> {
        Box::pin(async move {
            let out = self
                .client()
                .decrypt()
                .key_id(&key.kms_key_id)
                .ciphertext_blob(Blob::new(key.sealed_private.clone()))
                .send()
                .await
                // Throttling, KMS's own failures and timeouts are worth retrying; a denied
                // permission, a disabled or deleted key, or a ciphertext KMS refuses is not.
                .map_err(|e| classify("kms:Decrypt", e))?;
            out.plaintext
                .map(Blob::into_inner)
                .ok_or_else(|| StoreError::Internal("kms:Decrypt: no plaintext".into()))
        })
    }
}

/// Seals a private key (PKCS#8 DER) under `kms_key_id` with KMS `Encrypt` (admin tool).
pub async fn seal(
    client: &aws_sdk_kms::Client,
    kms_key_id: &str,
    private_pkcs8: &[u8],
) -> StoreResult<Vec<u8>> {
    let out = client
        .encrypt()
        .key_id(kms_key_id)
        .plaintext(Blob::new(private_pkcs8.to_vec()))
        .send()
        .await
        .map_err(|e| StoreError::Internal(error_detail("kms:Encrypt", &e)))?;
    out.ciphertext_blob
        .map(Blob::into_inner)
        .ok_or_else(|| StoreError::Internal("kms:Encrypt: no ciphertext".into()))
}
