//! The `listbridge` binary run as an admin runs it, on one database, for the tests that drive
//! the command line end to end.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `listbridge --db DB ARGS…` with `stdin` fed to it (empty when `None`), in an environment
/// that names no other database or configuration.
pub fn listbridge(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_listbridge"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("LISTBRIDGE_DB")
        .env_remove("LISTBRIDGE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the listbridge binary runs");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// What the command prints, once it has succeeded.
pub fn ok(db: &Path, args: &[&str]) -> String {
    ok_with_input(db, args, None)
}

/// The same, reading `stdin`.
pub fn ok_with_input(db: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = listbridge(db, args, stdin);
    assert!(
        out.status.success(),
        "listbridge {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// What the command says on stderr, once it has failed.
pub fn fails(db: &Path, args: &[&str]) -> String {
    let out = listbridge(db, args, None);
    assert!(
        !out.status.success(),
        "listbridge {args:?} should have failed; it printed {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("utf-8 output")
}
