//! Client secrets as self-describing hash strings, verified in constant time
//! (PROTOCOL §8.3).
//!
//! - `hmac-sha256$<salt>$<tag>`: for secrets the service generated (about 238 bits of
//!   entropy), where a fast keyed hash is enough.
//! - `pbkdf2-sha256$<iterations>$<salt>$<hash>$<reading>`: for secrets imported from
//!   elsewhere, which may be weak and so are stretched. `<reading>` says whether
//!   form-url-decoding leaves the secret as it is (`decodes-same`) or not
//!   (`decodes-changed`: it holds `+` or `%XX`), so that one derivation can tell a Basic
//!   header that encoded the secret from one that did not (PROTOCOL §2.4). Hashes stored
//!   before it existed have four fields and still verify.
//!
//! Salts and digests are unpadded standard base64.

use super::request::form_decode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hmac, pbkdf2};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

const FAST: &str = "hmac-sha256";
const STRETCHED: &str = "pbkdf2-sha256";
const DECODES_SAME: &str = "decodes-same";
const DECODES_CHANGED: &str = "decodes-changed";
const SALT_LEN: usize = 16;
const DIGEST_LEN: usize = 32;

/// PBKDF2-HMAC-SHA256 iterations for imported secrets (OWASP's 2023 figure). Stored in
/// each hash, so raising it later does not break existing clients.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// Verified against when the client is unknown, so that an unknown id costs the same as
/// a wrong secret for clients with generated secrets. Nothing hashes to it knowingly.
const DUMMY_HASH: &str =
    "hmac-sha256$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn salt(rng: &SystemRandom) -> Result<[u8; SALT_LEN], ring::error::Unspecified> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt)?;
    Ok(salt)
}

/// Hashes a generated, high-entropy secret with a fast keyed hash.
pub fn hash_generated(
    secret: &str,
    rng: &SystemRandom,
) -> Result<String, ring::error::Unspecified> {
    let salt = salt(rng)?;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &salt), secret.as_bytes());
    Ok(format!(
        "{FAST}${}${}",
        B64.encode(salt),
        B64.encode(tag.as_ref())
    ))
}

/// Hashes an imported secret, possibly weak, with PBKDF2.
pub fn hash_imported(secret: &str, rng: &SystemRandom) -> Result<String, ring::error::Unspecified> {
    hash_pbkdf2(secret, rng, PBKDF2_ITERATIONS)
}

/// PBKDF2 with a chosen iteration count (tests use a small one).
pub fn hash_pbkdf2(
    secret: &str,
    rng: &SystemRandom,
    iterations: u32,
) -> Result<String, ring::error::Unspecified> {
    let n = NonZeroU32::new(iterations).ok_or(ring::error::Unspecified)?;
    let salt = salt(rng)?;
    let mut out = [0u8; DIGEST_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        &salt,
        secret.as_bytes(),
        &mut out,
    );
    let reading = if decoding_changes(secret) {
        DECODES_CHANGED
    } else {
        DECODES_SAME
    };
    Ok(format!(
        "{STRETCHED}${iterations}${}${}${reading}",
        B64.encode(salt),
        B64.encode(out)
    ))
}

/// Whether `application/x-www-form-urlencoded` decoding changes `s` (it holds `+` or a
/// `%XX` escape), or fails on it.
pub fn decoding_changes(s: &str) -> bool {
    form_decode(s).as_deref() != Some(s)
}

/// What the first stretched hash of a record says of its secret's form-decoded reading:
/// `Some(true)` when decoding changes it, `None` when no stretched hash says.
pub fn stretched_decoding_changes(stored: &[String]) -> Option<bool> {
    let hash = stored.iter().find(|h| is_stretched(h))?;
    match hash.rsplit('$').next() {
        Some(DECODES_SAME) => Some(false),
        Some(DECODES_CHANGED) => Some(true),
        _ => None,
    }
}

/// Whether `secret` matches `stored`. Constant-time in the comparison; a malformed hash
/// string matches nothing.
pub fn verify(secret: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    match parts.next() {
        Some(FAST) => {
            let (Some(salt), Some(tag), None) = (parts.next(), parts.next(), parts.next()) else {
                return false;
            };
            let (Ok(salt), Ok(tag)) = (B64.decode(salt), B64.decode(tag)) else {
                return false;
            };
            hmac::verify(
                &hmac::Key::new(hmac::HMAC_SHA256, &salt),
                secret.as_bytes(),
                &tag,
            )
            .is_ok()
        }
        Some(STRETCHED) => {
            let (Some(iter), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next())
            else {
                return false;
            };
            if !matches!(
                (parts.next(), parts.next()),
                (None | Some(DECODES_SAME | DECODES_CHANGED), None)
            ) {
                return false;
            }
            let Some(n) = iter.parse::<u32>().ok().and_then(NonZeroU32::new) else {
                return false;
            };
            let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else {
                return false;
            };
            pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA256,
                n,
                &salt,
                secret.as_bytes(),
                &hash,
            )
            .is_ok()
        }
        _ => false,
    }
}

/// PBKDF2 verifications made by this process, for the tests and benchmarks that count
/// what a request costs.
static SLOW_VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// How many PBKDF2 verifications this process has made.
pub fn slow_verifications() -> u64 {
    SLOW_VERIFICATIONS.load(Ordering::Relaxed)
}

fn is_stretched(stored: &str) -> bool {
    stored.starts_with(STRETCHED) && stored.as_bytes().get(STRETCHED.len()) == Some(&b'$')
}

/// Whether any of `candidates` matches any of `stored`, at a bounded cost (PROTOCOL §2.4):
/// fast hashes are checked against every candidate, with no early exit, so the time does
/// not tell which one matched; a stretched (PBKDF2) hash only against `candidates[slow]`
/// (chosen by the caller from what the hash says of its secret), and only the first stretched hash of the record, so that one request never costs more
/// than one PBKDF2 derivation (the admin tool never stores two).
pub fn verify_any(candidates: &[&str], slow: usize, stored: &[String]) -> bool {
    let mut ok = false;
    let mut slow_left = true;
    for hash in stored {
        if is_stretched(hash) {
            if let (true, Some(secret)) = (slow_left, candidates.get(slow)) {
                slow_left = false;
                SLOW_VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
                ok |= verify(secret, hash);
            }
        } else {
            for secret in candidates {
                ok |= verify(secret, hash);
            }
        }
    }
    ok
}

/// Spends the time of one fast verification, for a client that does not exist.
pub fn dummy_verify(secret: &str) {
    std::hint::black_box(verify(secret, DUMMY_HASH));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_hash_verifies_only_its_secret() {
        let rng = SystemRandom::new();
        let h = hash_generated("s3cret", &rng).unwrap();
        assert!(h.starts_with("hmac-sha256$"));
        assert!(verify("s3cret", &h));
        assert!(!verify("s3cret ", &h));
        assert!(!h.contains("s3cret"));
    }

    #[test]
    fn pbkdf2_hash_verifies_only_its_secret() {
        let rng = SystemRandom::new();
        let h = hash_pbkdf2("a+b:c%d e", &rng, 1000).unwrap();
        assert!(h.starts_with("pbkdf2-sha256$1000$"));
        assert!(verify("a+b:c%d e", &h));
        assert!(!verify("a b:c%d e", &h));
    }

    #[test]
    fn a_pbkdf2_hash_says_whether_decoding_changes_its_secret() {
        let rng = SystemRandom::new();
        let of = |s: &str| vec![hash_pbkdf2(s, &rng, 1000).unwrap()];
        for (secret, changes) in [
            ("plain-Secret.1", false),
            ("p q:r/\u{e9}", false),
            ("a%zz", false),
            ("a+b", true),
            ("a%41", true),
            ("%FF", true),
        ] {
            let stored = of(secret);
            assert_eq!(decoding_changes(secret), changes, "{secret}");
            assert_eq!(
                stretched_decoding_changes(&stored),
                Some(changes),
                "{secret}"
            );
            assert!(verify(secret, &stored[0]), "{secret}");
        }
        assert_eq!(
            stretched_decoding_changes(&[hash_generated("a+b", &rng).unwrap()]),
            None
        );
    }

    #[test]
    fn a_pbkdf2_hash_stored_without_the_reading_still_verifies() {
        let rng = SystemRandom::new();
        let h = hash_pbkdf2("a+b", &rng, 1000).unwrap();
        let (old, _) = h.rsplit_once('$').unwrap();
        assert!(verify("a+b", old));
        assert!(!verify("a b", old));
        assert_eq!(stretched_decoding_changes(&[old.to_owned()]), None);
        assert!(!verify("a+b", &format!("{old}$decodes-maybe")));
        assert!(!verify("a+b", &format!("{h}$decodes-same")));
    }

    #[test]
    fn two_hashes_of_one_secret_differ_by_salt() {
        let rng = SystemRandom::new();
        assert_ne!(
            hash_generated("x", &rng).unwrap(),
            hash_generated("x", &rng).unwrap()
        );
    }

    #[test]
    fn malformed_hashes_match_nothing() {
        for bad in [
            "",
            "hmac-sha256",
            "hmac-sha256$$",
            "pbkdf2-sha256$0$AA$AA",
            "md5$x$y",
            DUMMY_HASH,
        ] {
            assert!(!verify("", bad) && !verify("x", bad), "{bad}");
        }
    }
}
