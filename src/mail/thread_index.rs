//! Outlook's `Thread-Index` header: which conversation a message belongs to and its parent's
//! place in it, from which the archive finds a parent for mail that names none.

use base64::Engine as _;

use super::hex::hex;

/// A decoded Outlook `Thread-Index`: 22 bytes (a FILETIME and a GUID) naming the conversation,
/// then one 5-byte block per reply level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadIndex {
    /// Hex of the first 22 bytes: the conversation, and the key of its first message.
    pub conversation: String,
    /// Hex of the whole decoded value: this message's key.
    pub key: String,
    /// Hex of the value minus its last 5 bytes (the parent's key), when it has reply blocks.
    pub parent_key: Option<String>,
}

/// Decodes a `Thread-Index` value (base64, whitespace tolerated, padding optional). `None` when
/// it is not base64, shorter than 22 bytes, or not 22 + 5k bytes long.
pub fn decode_thread_index(value: &str) -> Option<ThreadIndex> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = LENIENT.decode(compact).ok()?;
    if bytes.len() < 22 || (bytes.len() - 22) % 5 != 0 {
        return None;
    }
    Some(ThreadIndex {
        conversation: hex(&bytes[..22]),
        key: hex(&bytes),
        parent_key: (bytes.len() > 22).then(|| hex(&bytes[..bytes.len() - 5])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_index_table() {
        use base64::engine::general_purpose::STANDARD;
        let root: Vec<u8> = (1..=22).collect();
        let reply: Vec<u8> = (1..=27).collect();
        let grandchild: Vec<u8> = (1..=32).collect();
        let root_hex = "0102030405060708090a0b0c0d0e0f10111213141516";
        let t = decode_thread_index(&STANDARD.encode(&root)).unwrap();
        assert_eq!(t.conversation, root_hex);
        assert_eq!(t.key, root_hex);
        assert_eq!(t.parent_key, None);

        let t = decode_thread_index(&STANDARD.encode(&reply)).unwrap();
        assert_eq!(t.conversation, root_hex);
        assert_eq!(t.key, format!("{root_hex}1718191a1b"));
        assert_eq!(t.parent_key.as_deref(), Some(root_hex));

        let t = decode_thread_index(&STANDARD.encode(&grandchild)).unwrap();
        assert_eq!(t.parent_key, Some(format!("{root_hex}1718191a1b")));

        // Whitespace (folding) and missing padding are tolerated.
        let encoded = STANDARD.encode(&reply);
        let folded = format!(" {}\r\n\t{} ", &encoded[..10], &encoded[10..]);
        assert_eq!(decode_thread_index(&folded).unwrap().key.len(), 54);
        assert!(decode_thread_index(encoded.trim_end_matches('=')).is_some());

        // A real Outlook value: 22 bytes.
        let t = decode_thread_index("AcSTsWR2Y0HR7vDRRAiDSbQKmK1H4Q==").unwrap();
        assert_eq!(t.key.len(), 44);

        for bad in [
            "",
            "not base64!",
            &STANDARD.encode([0u8; 21]),
            &STANDARD.encode([0u8; 23]),
            &STANDARD.encode([0u8; 26]),
        ] {
            assert_eq!(decode_thread_index(bad), None, "input {bad:?}");
        }
    }
}
