//! The dependency rule of the design: the pure core (`mail/`, `search/`, `thread.rs`,
//! `tags.rs`) uses no database, network, async runtime, file system or clock; the web layer
//! never speaks IMAP or SMTP itself. Checked on the source text, so a new file cannot slip past.

use std::path::{Path, PathBuf};

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries {
            let p = entry.unwrap().path();
            if p.is_dir() {
                files.extend(rust_files(&p));
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    files
}

fn violations(paths: &[&str], forbidden: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for path in paths {
        for file in rust_files(&src.join(path)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for word in forbidden {
                    if code.contains(word) {
                        found.push(format!("{}:{}: uses {word}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn the_pure_core_does_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(
        src.join("mail").is_dir() && src.join("thread.rs").is_file(),
        "the pure core moved"
    );
    let found = violations(
        &["mail", "search", "thread.rs", "tags.rs"],
        &[
            "rusqlite",
            "tokio",
            "axum",
            "async_imap",
            // lettre's message builder is pure (it formats bytes) and composes our outbound
            // mail here; only its transports open connections.
            "lettre::transport",
            "SmtpTransport",
            "AsyncSmtpTransport",
            "std::net",
            "std::fs",
            "File::",
            "SystemTime",
            "Instant",
            "Utc::now",
            "Local::now",
            "std::env",
            "crate::store",
            "crate::ingest",
            "crate::web",
        ],
    );
    assert!(
        found.is_empty(),
        "the pure core must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_web_layer_never_speaks_imap_or_smtp() {
    let found = violations(&["web"], &["async_imap", "lettre", "SmtpTransport"]);
    assert!(
        found.is_empty(),
        "web handlers read the store and write the outbox:\n{}",
        found.join("\n")
    );
}
