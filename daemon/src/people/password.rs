//! Passwords: argon2id hashes in PHC string form (`$argon2id$v=19$m=…`),
//! with the argon2 crate's default parameters (19 MiB, 2 passes, 1 lane —
//! OWASP's password storage cheat sheet's first recommendation).
//!
//! Checking costs the same whether the person exists, has a password, or
//! typed it right: a missing hash is replaced by a fixed hash of a random
//! secret, verified the same way, so the answer's timing does not tell a
//! stranger which names exist.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted, characters.
pub const MIN_LEN: usize = 12;
/// Longest password accepted, bytes (argon2 hashes any length; this bounds the work a request can ask for).
pub const MAX_LEN: usize = 1024;

/// Check a new password's length.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn validate(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("a password is at least {MIN_LEN} characters"));
    }
    if password.trim().is_empty() {
        return Err("a password needs characters other than spaces".into());
    }
    if password.len() > MAX_LEN {
        return Err(format!("a password is at most {MAX_LEN} bytes"));
    }
    Ok(())
}

/// Hash `password` with a fresh random salt.
///
/// # Errors
/// The system's random generator or the hasher failed.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password failed: {e}"))
}

/// A hash that no typed password matches, verified in place of a missing one.
fn stand_in() -> &'static str {
    static STAND_IN: OnceLock<String> = OnceLock::new();
    STAND_IN.get_or_init(|| {
        let (secret, _) =
            crate::auth::new_token().unwrap_or_else(|_| (format!("{:?}", std::time::Instant::now()), [0; 32]));
        hash(&secret).unwrap_or_default()
    })
}

/// Whether `password` matches `stored` (a PHC string); `None` — no such
/// person, or no password set — costs the same and never matches.
pub fn verify(stored: Option<&str>, password: &str) -> bool {
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (stand_in(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        // A damaged stored hash: spend the same time on the stand-in, then refuse.
        let _ = PasswordHash::new(stand_in()).map(|h| Argon2::default().verify_password(password.as_bytes(), &h));
        return false;
    };
    let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
    ok && real && password.len() <= MAX_LEN
}

/// A one-time password to show once: 20 characters of an unambiguous alphabet (about 100 bits).
///
/// # Errors
/// The system's random generator failed.
pub fn one_time() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let (token, _) = crate::auth::new_token()?;
    // The token's 64 hex digits are 32 random bytes; map 20 of them onto the alphabet.
    let hex = &token[crate::auth::PREFIX.len()..];
    let bytes: Vec<u8> = (0..20).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect();
    Ok(bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_password_only() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify(Some(&h), "correct horse battery"));
        assert!(!verify(Some(&h), "correct horse batterY"));
        assert!(!verify(None, "correct horse battery"));
        assert!(!verify(Some("not a hash"), "correct horse battery"));
        assert_ne!(hash("correct horse battery").unwrap(), h, "salted");
    }

    #[test]
    fn new_passwords_are_long_enough_and_bounded() {
        assert!(validate("short").unwrap_err().contains("at least 12"));
        assert!(validate(&"x".repeat(2000)).unwrap_err().contains("at most"));
        assert!(validate(&" ".repeat(12)).unwrap_err().contains("other than spaces"));
        let p = one_time().unwrap();
        assert_eq!(p.len(), 20);
        assert!(validate(&p).is_ok());
        assert_ne!(one_time().unwrap(), p);
    }
}
