//! Bytes as lower-case hexadecimal: digests (an attachment's SHA-256) and the ids made from
//! them (a generated Message-ID). Shared by `parse` and `render`, which otherwise would import
//! each other.

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
