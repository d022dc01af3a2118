//! A private list's roster from the command line, end to end through the binary:
//! `members import --list` (from a file and from stdin), `members list`, `members remove`,
//! what each prints, and the refusals that must leave the roster as it was.

mod common;

use std::path::Path;

/// `listbridge --config CONFIG ARGS…` on `db`, reading `stdin`: what it prints, once it succeeded.
fn succeeds(db: &Path, config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    common::cli::ok_with_input(db, &with_config(config, args), stdin)
}

/// The same command's refusal, on stderr.
fn fails(db: &Path, config: &Path, args: &[&str]) -> String {
    common::cli::fails(db, &with_config(config, args))
}

fn with_config<'a>(config: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    all
}

#[test]
fn roster_import_list_and_remove_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (db, config) = (dir.path().join("a.db"), dir.path().join("config.toml"));
    std::fs::write(
        &config,
        "[[lists]]\nname = \"open\"\n\n[[lists]]\nname = \"council\"\nprivate = true\n",
    )
    .unwrap();
    let roster = dir.path().join("roster.txt");
    std::fs::write(
        &roster,
        "# the council, 2024\nDr Amira Khan <Amira.Khan@NHS.example>\n\nj.smith@nhs.example\n",
    )
    .unwrap();
    let roster = roster.to_str().unwrap();

    let out = succeeds(
        &db,
        &config,
        &["members", "import", roster, "--list", "council"],
        None,
    );
    assert!(out.contains("2 members added, 0 already known"), "{out}");
    assert!(
        out.contains("2 addresses put on the roster of council, 0 were on it"),
        "{out}"
    );
    // Addresses are kept as the archive compares them: lower case, sorted.
    let council = || {
        succeeds(
            &db,
            &config,
            &["members", "list", "--list", "council"],
            None,
        )
    };
    assert_eq!(council(), "amira.khan@nhs.example\nj.smith@nhs.example\n");

    // Importing again changes nothing and says so; stdin ("-") reads the same way.
    let again = succeeds(
        &db,
        &config,
        &["members", "import", "-", "--list", "council"],
        Some("amira.khan@nhs.example\nNew Member <new@nhs.example>\n"),
    );
    assert!(
        again.contains("1 members added, 1 already known"),
        "{again}"
    );
    assert!(
        again.contains("1 addresses put on the roster of council, 1 were on it"),
        "{again}"
    );

    // A roster with a bad line is refused whole, naming the line.
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "ok@nhs.example\nnot an address\n").unwrap();
    let refused = fails(
        &db,
        &config,
        &[
            "members",
            "import",
            bad.to_str().unwrap(),
            "--list",
            "council",
        ],
    );
    assert!(
        refused.contains("line 2") && refused.contains("nothing was added"),
        "{refused}"
    );

    // A list the config does not have is refused, and no such list appears.
    let unknown = fails(
        &db,
        &config,
        &["members", "import", roster, "--list", "counsil"],
    );
    assert!(
        unknown.contains("counsil") && unknown.contains("council"),
        "the refusal names the typo and the lists there are: {unknown}"
    );
    let missing = fails(&db, &config, &["members", "list", "--list", "counsil"]);
    assert!(missing.contains("counsil"), "{missing}");

    // Removing says how many were on the roster; the rest stay.
    let removed = succeeds(
        &db,
        &config,
        &[
            "members",
            "remove",
            "--list",
            "council",
            "J.Smith@nhs.example",
            "nobody@nhs.example",
        ],
        None,
    );
    assert!(
        removed.contains("1 addresses taken off the roster of council, 1 were not on it"),
        "{removed}"
    );
    assert_eq!(council(), "amira.khan@nhs.example\nnew@nhs.example\n");
    // The other list's roster was never touched.
    let open = succeeds(&db, &config, &["members", "list", "--list", "open"], None);
    assert_eq!(open, "");
}
