//! Invariant 2 under the worst interruption: an import killed with SIGKILL at several moments,
//! then run again to the end, gives exactly the archive an uninterrupted import gives.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A generated list archive: `count` messages in threads of varying shape, deterministic.
fn write_archive(path: &Path, count: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let topics = [
        "Asthma",
        "COPD",
        "Diabetes",
        "Flu clinic",
        "Locum rates",
        "X-ray access",
    ];
    for i in 0..count {
        // Roughly one new thread in five; otherwise a reply to a recent message.
        let parent = (i > 0 && next() % 5 != 0).then(|| i - 1 - next() % i.min(40));
        let topic = topics[parent.unwrap_or(i) % topics.len()];
        writeln!(out, "From MAILER-DAEMON Thu Jan  1 00:00:00 1970").unwrap();
        writeln!(
            out,
            "From: Member {} <member{}@example.org>",
            i % 97,
            i % 97
        )
        .unwrap();
        writeln!(
            out,
            "Subject: {}{topic} question {}",
            if parent.is_some() { "Re: " } else { "" },
            parent.unwrap_or(i)
        )
        .unwrap();
        writeln!(
            out,
            "Date: {}",
            chrono::DateTime::from_timestamp(1_600_000_000 + i as i64 * 600, 0)
                .unwrap()
                .to_rfc2822()
        )
        .unwrap();
        writeln!(out, "Message-ID: <gen-{i}@example.org>").unwrap();
        if let Some(p) = parent {
            writeln!(out, "In-Reply-To: <gen-{p}@example.org>").unwrap();
        }
        writeln!(out).unwrap();
        for line in 0..(3 + next() % 12) {
            writeln!(
                out,
                "Line {line} of message {i} about {topic} and word{}.",
                next() % 5000
            )
            .unwrap();
        }
        writeln!(out).unwrap();
    }
}

fn listbridge(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_listbridge"));
    cmd.arg("--db")
        .arg(db)
        .env_remove("LISTBRIDGE_DB")
        .env_remove("LISTBRIDGE_CONFIG");
    cmd
}

fn output(db: &Path, args: &[&str]) -> Vec<u8> {
    let out = listbridge(db).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn an_import_killed_at_any_moment_resumes_to_the_same_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("big.mbox");
    write_archive(&archive, 30_000);

    let clean = dir.path().join("clean.db");
    output(&clean, &["import", archive.to_str().unwrap()]);

    let crashed = dir.path().join("crashed.db");
    let mut kills = 0;
    for delay_ms in [150, 400, 700, 1000, 1500, 2500] {
        let mut child = listbridge(&crashed)
            .args(["import", archive.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        kills > 0,
        "no import was interrupted: the archive is too small for this machine"
    );
    let resumed =
        String::from_utf8(output(&crashed, &["import", archive.to_str().unwrap()])).unwrap();
    assert!(resumed.contains("from 30000 read"), "{resumed}");

    for what in [
        &["export", "mbox"][..],
        &["export", "threads", "--json"][..],
        &["search", "--json", "--limit", "50", "asthma"][..],
    ] {
        assert!(
            output(&clean, what) == output(&crashed, what),
            "`{}` differs between the clean and the interrupted import ({kills} kills)",
            what.join(" ")
        );
    }
}
