//! Fuzzes the text a reader types or a mail body holds: light formatting (`markup::to_html`),
//! reply quoting (`markup::quote`) and reply trimming (`trim::trim`). All take arbitrary text
//! (slicing by byte offsets can split a UTF-8 character), so none may panic.
//!
//! A NUL byte, if any, separates the passage from the author given to `quote`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use listbridge::mail::markup::{quote, to_html};
use listbridge::mail::trim::{TrimOptions, extract_embedded, trim};
use std::sync::OnceLock;

fn options() -> &'static TrimOptions {
    static OPTIONS: OnceLock<TrimOptions> = OnceLock::new();
    OPTIONS.get_or_init(|| TrimOptions {
        footer_patterns: vec![
            regex::Regex::new(r"^_{20,}$").unwrap(),
            regex::Regex::new(r"(?i)to unsubscribe").unwrap(),
        ],
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (passage, author) = text.split_once('\0').unwrap_or((&text, "A. Writer"));
    let _ = to_html(&text);
    let _ = quote(passage, author);
    let trimmed = trim(&text, options());
    if text.chars().any(|c| !c.is_whitespace()) {
        assert!(!trimmed.text.is_empty() || !trimmed.elided.is_empty());
    }
    let _ = extract_embedded(&text);
});
