//! Bearer tokens for agents and operators.
//!
//! A token is 32 random bytes, shown once as `census_<64 hex>` and stored
//! only as its SHA-256. Checking a presented token costs one hash and one
//! indexed lookup of the hash whether the token is right or wrong, and the
//! final comparison is constant-time, so timing does not tell an attacker
//! how close a guess was.

use ring::rand::{SecureRandom, SystemRandom};

/// Prefix of every Census token (makes leaked tokens easy to grep for).
pub const PREFIX: &str = "census_";

/// A token's stored form.
pub type TokenHash = [u8; 32];

/// Make a new token: (the secret to show once, its hash to store).
pub fn new_token() -> Result<(String, TokenHash), String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| "the system random generator failed".to_string())?;
    let token = format!("{PREFIX}{}", hex(&bytes));
    let hash = hash_token(&token);
    Ok((token, hash))
}

/// SHA-256 of a presented token (whitespace around it ignored).
pub fn hash_token(token: &str) -> TokenHash {
    let d = ring::digest::digest(&ring::digest::SHA256, token.trim().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Compare two hashes in constant time.
pub fn same(a: &TokenHash, b: &TokenHash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token in an `Authorization: Bearer …` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hash_consistently() {
        let (a, ha) = new_token().unwrap();
        let (b, hb) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64);
        assert!(same(&ha, &hash_token(&format!(" {a}\n"))));
        assert!(!same(&ha, &hb));
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer("Bearer census_x"), Some("census_x"));
        assert_eq!(bearer("bearer  census_x "), Some("census_x"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
