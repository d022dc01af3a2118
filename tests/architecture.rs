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

/// The layers, from the top down, and the source paths of each (relative to `src/`). A part
/// may import from the parts below it, never from one above it or beside it: the web and the
/// doors (IMAP in, SMTP out) stand side by side and know nothing of each other. `config` is
/// read by every layer and may itself read only the core and the store's types.
const LAYERS: &[(&str, &[&str])] = &[
    ("entry", &["main.rs", "daemon.rs", "cli.rs", "lib.rs"]),
    ("web", &["web"]),
    ("doors", &["ingest", "outbound", "tls.rs"]),
    ("forum", &["forum"]),
    ("archive", &["archive"]),
    ("store", &["store"]),
    (
        "core",
        &["mail", "thread.rs", "tags.rs", "tokens.rs", "search"],
    ),
];
/// Parts that stand side by side (neither may import the other).
const BESIDE: &[(&str, &str)] = &[("web", "doors")];

/// The part a `src/`-relative path or a `crate::` module name belongs to.
fn part_of(path: &str) -> Option<&'static str> {
    if path == "config" || path.starts_with("config/") {
        return Some("config");
    }
    LAYERS.iter().find_map(|(part, paths)| {
        paths
            .iter()
            .any(|p| {
                let p = p.strip_suffix(".rs").unwrap_or(p);
                path == p || path.starts_with(&format!("{p}/")) || path == format!("{p}.rs")
            })
            .then_some(*part)
    })
}

fn rank(part: &str) -> usize {
    LAYERS
        .iter()
        .position(|(p, _)| *p == part)
        .map_or(usize::MAX, |i| LAYERS.len() - i)
}

/// The crate modules a file's code names (`crate::forum::...`), leaving out its unit tests
/// (everything from the first `#[cfg(test)]` on) and comments.
fn modules_named(text: &str) -> Vec<(usize, String)> {
    let mut named = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let module: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            named.push((n + 1, module));
            rest = after;
        }
    }
    named
}

#[test]
fn imports_only_run_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in rust_files(&src) {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if relative.starts_with("bin/") {
            continue;
        }
        let from = part_of(&relative)
            .unwrap_or_else(|| panic!("src/{relative} is in no layer: add it to LAYERS"));
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, module) in modules_named(&text) {
            let Some(to) = part_of(&module) else {
                wrong.push(format!(
                    "src/{relative}:{line}: crate::{module} is in no layer"
                ));
                continue;
            };
            checked += 1;
            let allowed = match (from, to) {
                (a, b) if a == b => true,
                ("entry", _) | (_, "config") => true,
                ("config", b) => b == "core" || b == "store",
                (a, b) if BESIDE.contains(&(a, b)) || BESIDE.contains(&(b, a)) => false,
                (a, b) => rank(a) > rank(b),
            };
            if !allowed {
                wrong.push(format!(
                    "src/{relative}:{line}: {from} imports crate::{module} ({to})"
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} imports seen: is the scan broken?"
    );
    assert!(
        wrong.is_empty(),
        "imports must run down the layers (entry, web | doors, forum, archive, store, core):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_check_sees_an_upward_import() {
    // The check itself, on made-up text: a store file naming the forum is caught, a test
    // module's import is not counted.
    let text = "use crate::mail::parse;\nfn f() { crate::forum::post(); }\n#[cfg(test)]\nmod tests { use crate::archive::x; }\n";
    let named = modules_named(text);
    assert_eq!(named, vec![(1, "mail".to_owned()), (2, "forum".to_owned())]);
    assert!(rank(part_of("forum").unwrap()) > rank(part_of("store/archive.rs").unwrap()));
    assert_eq!(part_of("forum/gate/hold.rs"), Some("forum"));
    assert_eq!(part_of("thread.rs"), Some("core"));
}
#[test]
fn the_config_writes_nothing() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(src.join("config").is_dir(), "the config moved");
    // Its types (ErasurePolicy, DeriveSettings) may come from the store; a Store may not.
    let found = violations(
        &["config"],
        &[
            "store::Store",
            "&Store",
            "Store::",
            "rusqlite",
            "seed_interests",
        ],
    );
    assert!(
        found.is_empty(),
        "the config is read and validated, and writes to no store:\n{}",
        found.join("\n")
    );
}
