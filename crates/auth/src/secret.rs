//! Generating, recognising and checking secrets: API keys (salted SHA-256), passwords
//! (argon2id) and session tokens (SHA-256 of a random cookie value).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use spyglass_model::auth::KeyScope;
use subtle::ConstantTimeEq;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Characters of a key's id (its public part, shown in lists).
pub const KEY_ID_LEN: usize = 8;
/// Characters of a key's secret part: 32 base62 characters are about 190 bits.
const KEY_SECRET_LEN: usize = 32;

/// Random base62 text from the thread's CSPRNG (ChaCha, seeded by the OS).
pub fn random_base62(len: usize) -> String {
    (0..len)
        .map(|_| BASE62[rand::random_range(0..BASE62.len())] as char)
        .collect()
}

pub fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Equality that takes the same time wherever the inputs differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new key: `sg_<scope>_<id><secret>`.
pub struct NewKey {
    pub id: String,
    pub prefix: String,
    pub key: String,
    pub salt: String,
    pub hash: String,
}

pub fn new_key(scope: KeyScope) -> NewKey {
    let id = random_base62(KEY_ID_LEN);
    let prefix = format!("sg_{}_{id}", scope.as_str());
    let key = format!("{prefix}{}", random_base62(KEY_SECRET_LEN));
    let salt = random_hex(16);
    let hash = key_hash(&salt, &key);
    NewKey {
        id,
        prefix,
        key,
        salt,
        hash,
    }
}

pub fn key_hash(salt_hex: &str, key: &str) -> String {
    let salt = hex::decode(salt_hex).unwrap_or_default();
    sha256_hex(&[&salt, key.as_bytes()])
}

/// The scope and id a key claims, if it has a key's shape.
pub fn parse_key(key: &str) -> Option<(KeyScope, &str)> {
    let rest = key.strip_prefix("sg_")?;
    let (scope, rest) = rest.split_once('_')?;
    let scope = KeyScope::parse(scope)?;
    if rest.len() != KEY_ID_LEN + KEY_SECRET_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    Some((scope, &rest[..KEY_ID_LEN]))
}

fn argon2() -> argon2::Argon2<'static> {
    // argon2id, v19, m=19 MiB, t=2, p=1: OWASP's recommended minimum.
    argon2::Argon2::default()
}

/// An argon2id PHC string for the password.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so a wrong username takes as long
/// as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_base62(16)).unwrap_or_default())
}

/// A session's cookie value and the id it is stored under.
pub fn new_session_token() -> (String, String) {
    let token = random_base62(43);
    let id = session_id(&token);
    (token, id)
}

pub fn session_id(token: &str) -> String {
    sha256_hex(&[b"spyglass-session:", token.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_scope_and_id_and_verify_against_their_hash() {
        let k = new_key(KeyScope::Ingest);
        assert!(k.key.starts_with("sg_ingest_") && k.key.starts_with(&k.prefix));
        assert_eq!(parse_key(&k.key), Some((KeyScope::Ingest, k.id.as_str())));
        assert!(same(&key_hash(&k.salt, &k.key), &k.hash));
        let mut other = k.key.clone();
        other.pop();
        other.push(if k.key.ends_with('x') { 'y' } else { 'x' });
        assert!(!same(&key_hash(&k.salt, &other), &k.hash));
        // Same key, another salt: another digest.
        assert_ne!(key_hash(&random_hex(16), &k.key), k.hash);
    }

    #[test]
    fn malformed_keys_are_not_keys() {
        let k = new_key(KeyScope::Read).key;
        for bad in [
            "",
            "sg_",
            "sg_read_short",
            "sg_write_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &k[1..],
            &format!("{k}x"),
            &k.replace('_', "-"),
            &format!("{}!", &k[..k.len() - 1]),
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct hors", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
    }

    #[test]
    fn session_tokens_are_stored_as_digests() {
        let (token, id) = new_session_token();
        assert_eq!(session_id(&token), id);
        assert!(!id.contains(&token));
        assert_ne!(new_session_token().0, token);
    }
}
