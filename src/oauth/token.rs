//! Token generation (PROTOCOL §5.2): 40 characters of `[A-Za-z0-9]` from the system CSPRNG,
//! without modulo bias, and the SHA-256 under which a token is stored.

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// Length of every token and generated secret.
pub const TOKEN_LEN: usize = 40;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// The largest multiple of 62 that fits a byte: bytes at or above it are redrawn, so each
/// character is uniform (log2(62) * 40 ≈ 238 bits per token).
const ACCEPT_BELOW: u8 = 248;

/// Draws a fresh token from `rng`.
pub fn generate(rng: &SystemRandom) -> Result<String, ring::error::Unspecified> {
    let mut out = String::with_capacity(TOKEN_LEN);
    let mut buf = [0u8; 48];
    while out.len() < TOKEN_LEN {
        rng.fill(&mut buf)?;
        for &b in &buf {
            if b < ACCEPT_BELOW && out.len() < TOKEN_LEN {
                out.push(ALPHABET[usize::from(b % 62)] as char);
            }
        }
    }
    Ok(out)
}

/// The key a token is stored under: lowercase hex SHA-256 of its bytes.
pub fn hash(token: &str) -> String {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d.as_ref() {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_40_alphanumerics_and_distinct() {
        let rng = SystemRandom::new();
        let a = generate(&rng).unwrap();
        let b = generate(&rng).unwrap();
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn every_character_of_the_alphabet_appears_and_roughly_evenly() {
        let rng = SystemRandom::new();
        let mut counts = [0u32; 128];
        for _ in 0..2000 {
            for c in generate(&rng).unwrap().bytes() {
                counts[usize::from(c)] += 1;
            }
        }
        // 80,000 draws over 62 symbols: about 1290 each; a biased or missing symbol shows.
        for &c in ALPHABET {
            let n = counts[usize::from(c)];
            assert!((1000..1600).contains(&n), "{} drawn {n} times", c as char);
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
