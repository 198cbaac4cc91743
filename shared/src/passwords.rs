//! Passwords of license users (API.md §4): generated initial passwords, and how passwords are
//! kept. Pure.
//!
//! A password the caller chose is stored as an Argon2id hash (memory-hard: a chosen password
//! may be guessable). A generated initial password is 12 characters drawn by the OS random
//! generator from an unambiguous 32-character alphabet (60 bits): it is shown in clear while it
//! is the user's password, as the vendor shows it, and checked against its SHA-256, as API key
//! secrets are: stretching adds nothing to a secret that random, and an order may create
//! hundreds of users.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Characters of generated passwords: no 0/O, 1/l/I.
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Length of generated initial passwords (API.md §4: at least 10).
pub const INITIAL_LENGTH: usize = 12;
const SHA256_PREFIX: &str = "sha256$";

/// A fresh initial password.
pub fn new_initial_password() -> String {
    let mut rng = rand::rng();
    (0..INITIAL_LENGTH).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// The stored form of a password the caller chose: an Argon2id PHC string.
pub fn hash_chosen(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .expect("Argon2 with default parameters hashes any password")
}

/// The stored form of a generated initial password.
pub fn hash_generated(password: &str) -> String {
    format!("{SHA256_PREFIX}{}", sha256_hex(password))
}

/// Whether `candidate` is the password `stored` keeps (either form; constant time for the
/// SHA-256 form, Argon2's own comparison for the other).
pub fn verify(stored: &str, candidate: &str) -> bool {
    match stored.strip_prefix(SHA256_PREFIX) {
        Some(hex) => constant_time_eq(sha256_hex(candidate).as_bytes(), hex.as_bytes()),
        None => PasswordHash::new(stored)
            .is_ok_and(|hash| Argon2::default().verify_password(candidate.as_bytes(), &hash).is_ok()),
    }
}

/// Lowercase hex SHA-256 of `secret`.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that takes as long whatever the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_passwords_are_long_unambiguous_and_fresh() {
        let a = new_initial_password();
        assert_eq!(a.len(), INITIAL_LENGTH);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert!(!a.contains(['0', 'O', '1', 'l', 'I']));
        assert_ne!(a, new_initial_password());
    }

    #[test]
    fn both_forms_verify_only_their_password() {
        let generated = new_initial_password();
        let stored = hash_generated(&generated);
        assert!(!stored.contains(&generated));
        assert!(verify(&stored, &generated));
        assert!(!verify(&stored, "wrong"));
        let chosen = hash_chosen("correct horse");
        assert!(chosen.starts_with("$argon2id$"));
        assert!(verify(&chosen, "correct horse"));
        assert!(!verify(&chosen, "correct horse "));
        assert!(!verify("garbage", "x"));
    }
}
