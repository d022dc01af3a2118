//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The outside test corpora: `$LISTBRIDGE_CORPORA`, else `../shared/corpora` beside the project.
/// Panics with a clear message when the folder is missing: corpus tests fail, never skip.
pub fn corpora_dir() -> PathBuf {
    let dir = std::env::var_os("LISTBRIDGE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"));
    assert!(
        dir.join("README.md").is_file(),
        "the test corpora are missing at {}: put them there or set LISTBRIDGE_CORPORA \
         (the self-contained suite runs with plain `cargo test`, without the corpus feature)",
        dir.display()
    );
    dir
}

/// The project's own fixtures folder.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub mod app;
pub mod cli;

#[cfg(feature = "rig")]
pub mod rig;

#[cfg(any(feature = "rig", feature = "browser"))]
pub mod daemon;

#[cfg(any(feature = "rig", feature = "browser"))]
pub mod web;

#[cfg(feature = "rig")]
pub mod forum;
