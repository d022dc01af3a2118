//! Interests from the command line and the store: tags given at import, `interest:` in search,
//! `retag` after a rule changes (and its report), and a moderator's hand-set tag outliving
//! `reindex`.

mod common;

use std::path::Path;

use listbridge::store::{DeriveSettings, Store, UserId};
use serde_json::Value;

fn run(db: &Path, config: &Path, args: &[&str]) -> String {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    common::cli::ok(db, &all)
}

fn subjects(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap();
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn interests_tag_on_import_filter_search_retag_and_keep_hand_set_tags() {
    let dir = tempfile::tempdir().unwrap();
    let (db, config) = (dir.path().join("a.db"), dir.path().join("config.toml"));
    let text = format!(
        "[[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n{}",
        include_str!("../fixtures/sample/interests.toml")
    );
    std::fs::write(&config, text).unwrap();
    let sample = common::fixtures_dir().join("sample/snug-2024.mbox");
    run(&db, &config, &["import", sample.to_str().unwrap()]);

    let asthma = subjects(&run(&db, &config, &["search", "interest:asthma", "--json"]));
    assert!(
        !asthma.is_empty() && asthma.iter().all(|s| s.contains("Asthma")),
        "{asthma:?}"
    );
    let not_asthma = subjects(&run(
        &db,
        &config,
        &["search", "rescue -interest:asthma", "--json"],
    ));
    assert!(
        not_asthma.iter().any(|s| s.contains("COPD")),
        "{not_asthma:?}"
    );

    // Retag after a rule changes: the report says what moved.
    let store = Store::open(&db, DeriveSettings::default()).unwrap();
    let mut pm = store
        .interest_by_slug("practice-management")
        .unwrap()
        .unwrap();
    let before = store.interest_threads(pm.id, 0, 100).unwrap().total;
    pm.rules.keywords.push("vitamin D".into());
    store.save_interest(&pm, 0).unwrap();
    drop(store);
    let report: Value = serde_json::from_str(&run(&db, &config, &["retag", "--json"])).unwrap();
    let change = report["interests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["interest"] == "practice-management")
        .unwrap()
        .clone();
    assert_eq!(change["threads_before"].as_u64(), Some(before));
    assert_eq!(change["gained"].as_u64(), Some(1), "{report}");
    assert_eq!(change["lost"].as_u64(), Some(0));
    assert!(report["messages"].as_u64().unwrap() >= 19);

    // A moderator removes "asthma" from a thread by hand: it stays removed through reindex.
    let store = Store::open(&db, DeriveSettings::default()).unwrap();
    let asthma_interest = store.interest_by_slug("asthma").unwrap().unwrap();
    let thread = store
        .interest_threads(asthma_interest.id, 0, 10)
        .unwrap()
        .items[0]
        .thread;
    let thread = listbridge::store::ThreadId(thread);
    store
        .set_manual_tag(thread, asthma_interest.id, false, UserId(0), 1)
        .unwrap();
    assert!(
        !store
            .thread_interest_ids(thread)
            .unwrap()
            .contains(&asthma_interest.id)
    );
    // Thread numbers are derived: find the thread again by one of its messages.
    let member = store.thread_posts(thread).unwrap()[0]
        .headers
        .message_id
        .clone();
    drop(store);
    run(&db, &config, &["reindex"]);
    let store = Store::open(&db, DeriveSettings::default()).unwrap();
    let (thread, _) = store.locate(&member).unwrap().unwrap();
    let tags = store.thread_interest_ids(thread).unwrap();
    assert!(
        !tags.contains(&asthma_interest.id),
        "the hand-removed tag came back after reindex"
    );
    assert!(
        store
            .interest_threads(asthma_interest.id, 0, 10)
            .unwrap()
            .items
            .iter()
            .all(|t| t.thread != thread.0)
    );
    let again = subjects(&run(&db, &config, &["search", "interest:asthma", "--json"]));
    assert!(again.len() < asthma.len(), "{again:?} vs {asthma:?}");
}

/// While the forum serves (its thread pages cached), `listbridge retag` (another process) or a
/// renamed interest shows on the thread page at once, as it does on the interest's page.
#[tokio::test]
async fn retag_while_serving_shows_on_cached_thread_pages_at_once() {
    use common::app::Site;
    let site = Site::new(&format!(
        "[[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n{}",
        include_str!("../fixtures/sample/interests.toml")
    ));
    let store = site.store();
    store
        .seed_interests(&site.config.new_interests(), 0)
        .unwrap();
    site.import("sample/snug-2024.mbox", "snug");
    let mut pm = store
        .interest_by_slug("practice-management")
        .unwrap()
        .unwrap();
    let tagged = |store: &Store| -> Vec<i64> {
        store
            .interest_threads(pm.id, 0, 100)
            .unwrap()
            .items
            .iter()
            .map(|t| t.thread)
            .collect()
    };
    let before = tagged(&store);
    let threads: Vec<i64> = store
        .latest_threads(listbridge::store::ThreadFilter::All, 0, 100)
        .unwrap()
        .items
        .iter()
        .map(|t| t.thread)
        .collect();
    // Every thread page read once, so cached.
    for t in &threads {
        let page = site.get_anonymous(&format!("/t/{t}")).await;
        assert_eq!(page.status, 200);
    }
    pm.rules.keywords.push("vitamin D".into());
    store.save_interest(&pm, 0).unwrap();
    drop(store);
    site.cli_ok(&["retag"]);
    let gained: Vec<i64> = tagged(&site.store())
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect();
    assert_eq!(gained.len(), 1, "{gained:?}");
    let interest_page = site.get_anonymous("/i/practice-management").await;
    assert!(interest_page.body.contains(&format!("/t/{}", gained[0])));
    let page = site.get_anonymous(&format!("/t/{}", gained[0])).await;
    assert!(
        page.body.contains("href=\"/i/practice-management\""),
        "the thread page missed the new tag"
    );

    // The interest renamed (no retag): the thread page says the new name.
    let store = site.store();
    pm.rules.name = "Running the practice".into();
    store.save_interest(&pm, 0).unwrap();
    drop(store);
    let page = site.get_anonymous(&format!("/t/{}", gained[0])).await;
    assert!(
        page.body.contains("Running the practice"),
        "the old name stayed"
    );

    // A moderator may add to that thread every interest it lacks, and only those.
    let (mut moderator, _) = site
        .member("mod@example.org", "Mo", listbridge::store::Role::Moderator)
        .await;
    let page = site.get(&mut moderator, &format!("/t/{}", gained[0])).await;
    let store = site.store();
    let has = store
        .thread_interest_ids(listbridge::store::ThreadId(gained[0]))
        .unwrap();
    let all = store.interests().unwrap();
    assert!(all.len() > has.len(), "some interest is not on the thread");
    for interest in &all {
        let offered = format!("<option value=\"{}\">", interest.rules.slug);
        assert_eq!(
            page.body.contains(&offered),
            !has.contains(&interest.id),
            "{} offered to add",
            interest.rules.slug
        );
    }
}
