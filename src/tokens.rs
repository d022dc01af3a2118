//! Random secrets (session and sign-in tokens, reply keys, Message-ID parts) and their hashes.
//! Tokens are 256 random bits from the operating system; the store keeps only SHA-256 hashes.

use base64::Engine;
use sha2::{Digest, Sha256};

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    bytes
}

/// A URL- and cookie-safe token of 256 random bits.
pub fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A key for a `reply+KEY` address: 128 random bits in lowercase base32 letters and digits, as
/// mail systems may change the case of a local part.
pub fn new_reply_key() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    random_bytes::<26>()
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect()
}

/// A link token that names a member until `expires`, signed with the site's secret (HMAC-SHA256)
/// so it needs no storage: mail to thousands of members carries one each.
pub fn sign_member(secret: &[u8], user: i64, expires: i64) -> String {
    let mut payload = [0u8; 16];
    payload[..8].copy_from_slice(&user.to_be_bytes());
    payload[8..].copy_from_slice(&expires.to_be_bytes());
    let mut token = payload.to_vec();
    token.extend_from_slice(&mac(secret, &payload)[..16]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
}

/// The member a signed token names, while it has not expired and its signature holds.
pub fn verify_member(secret: &[u8], token: &str, now: i64) -> Option<i64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    if bytes.len() != 32 {
        return None;
    }
    let (payload, signature) = bytes.split_at(16);
    let expected = mac(secret, payload);
    // Compared whole, without an early exit.
    let differs = expected[..16]
        .iter()
        .zip(signature)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    let user = i64::from_be_bytes(payload[..8].try_into().ok()?);
    let expires = i64::from_be_bytes(payload[8..].try_into().ok()?);
    (differs == 0 && expires > now).then_some(user)
}

fn mac(secret: &[u8], payload: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// What the store keeps of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_tokens_are_signed_and_expire() {
        let token = sign_member(b"secret", 42, 1000);
        assert_eq!(verify_member(b"secret", &token, 999), Some(42));
        assert_eq!(verify_member(b"secret", &token, 1000), None, "expired");
        assert_eq!(
            verify_member(b"other", &token, 999),
            None,
            "another site's key"
        );
        let mut forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token)
            .unwrap();
        forged[7] ^= 1; // another member
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
        assert_eq!(verify_member(b"secret", &forged, 999), None);
        assert_eq!(verify_member(b"secret", "garbage", 0), None);
    }

    #[test]
    fn tokens_differ_and_hash_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        let key = new_reply_key();
        assert_eq!(key.len(), 26);
        assert!(
            key.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
