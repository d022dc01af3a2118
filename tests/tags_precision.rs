//! Tagging quality on the project's own labelled threads (`fixtures/tags/labelled.json`,
//! labelled as a moderator would, against the rules in `fixtures/tags/interests.toml`):
//! micro-averaged precision and recall over (thread, interest) pairs, printed with every miss
//! and false match, and held to at least 95% precision and 90% recall.

use std::collections::BTreeSet;
use std::path::Path;

use listbridge::tags::{Tagger, parse_rules_toml};
use serde::Deserialize;

#[derive(Deserialize)]
struct Labelled {
    subject: String,
    body: String,
    interests: Vec<String>,
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tags")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn tagging_precision_and_recall() {
    let rules = parse_rules_toml(&fixture("interests.toml")).expect("interests.toml parses");
    let threads: Vec<Labelled> =
        serde_json::from_str(&fixture("labelled.json")).expect("labelled.json parses");
    assert!(
        threads.len() >= 100,
        "the fixture needs at least 100 threads"
    );
    let slugs: BTreeSet<&str> = rules.iter().map(|r| r.slug.as_str()).collect();
    let tagger = Tagger::new(&rules).expect("the rules compile");

    let (mut right, mut false_matches, mut misses) = (0usize, Vec::new(), Vec::new());
    for thread in &threads {
        for slug in &thread.interests {
            assert!(slugs.contains(slug.as_str()), "unknown interest {slug:?}");
        }
        let want: BTreeSet<&str> = thread.interests.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = tagger
            .tag(&thread.subject, &thread.body)
            .into_iter()
            .map(|i| rules[i].slug.as_str())
            .collect();
        right += want.intersection(&got).count();
        for slug in got.difference(&want) {
            false_matches.push(format!("  + {slug:<20} {:?}", thread.subject));
        }
        for slug in want.difference(&got) {
            misses.push(format!("  - {slug:<20} {:?}", thread.subject));
        }
    }

    let tagged = right + false_matches.len();
    let labelled = right + misses.len();
    let precision = right as f64 / tagged.max(1) as f64;
    let recall = right as f64 / labelled.max(1) as f64;
    println!(
        "tagging {} threads against {} interests: {labelled} labels, {tagged} tags, {right} right",
        threads.len(),
        rules.len()
    );
    println!(
        "precision {:.1}% ({} false matches), recall {:.1}% ({} misses)",
        precision * 100.0,
        false_matches.len(),
        recall * 100.0,
        misses.len()
    );
    println!("false matches:\n{}", false_matches.join("\n"));
    println!("misses:\n{}", misses.join("\n"));
    assert!(precision >= 0.95, "precision {precision:.3} is under 0.95");
    assert!(recall >= 0.90, "recall {recall:.3} is under 0.90");
}
