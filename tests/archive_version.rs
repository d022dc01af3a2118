//! The archive's version, which search pages are cached by: every change a reader could see
//! (new mail, a moderator's hide, a threading fix, a retag, a purge) gives a new version, so a
//! cached page is never served stale; and it is one stored counter, never a count of messages.

mod common;

use common::app::Site;
use listbridge::forum::moderation::{Decision, FixRequest, decide, fix_thread};
use listbridge::store::{Role, Store, UserId};

const CONFIG: &str = "[web]\nsite_name = \"Test forum\"\n\
                      [[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n";

fn import(site: &Site, store: &mut Store, file: &std::path::Path) {
    listbridge::archive::pipeline::import(
        store,
        &[file.to_path_buf()],
        "snug",
        &site.config.render_options("snug"),
        0,
    )
    .unwrap();
}

/// The sample archive with its interests, served, and one account (`name`, `address`, `role`).
fn sample_site(name: &str, address: &str, role: Role) -> (Site, Store, UserId) {
    let mut site = Site::new(&format!(
        "{CONFIG}{}",
        include_str!("../fixtures/sample/interests.toml")
    ));
    let mut store = site.store();
    store
        .seed_interests(&site.config.new_interests(), 0)
        .unwrap();
    import(
        &site,
        &mut store,
        &common::fixtures_dir().join("sample/snug-2024.mbox"),
    );
    site.restart();
    let (user, _) = store.create_user(name, address, role, 0).unwrap();
    (site, store, user)
}

/// How many results an anonymous (cached) search page lists.
async fn results(site: &Site, query: &str) -> usize {
    let answer = site
        .get_anonymous(&format!("/search?q={}", common::app::encode(query)))
        .await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.body);
    answer.body.matches("<h2><a href=\"/m/").count()
}

#[tokio::test]
async fn archive_version_invalidates_cached_search_on_every_change() {
    let (site, mut store, moderator) = sample_site("Mo Dee", "mo@mods.example", Role::Moderator);
    let version = |store: &Store| store.archive_version().unwrap();
    let mut seen = vec![version(&store)];
    let mut changed = |store: &Store, what: &str| {
        let v = version(store);
        assert!(
            !seen.contains(&v),
            "{what} left the archive version at {v:?}"
        );
        seen.push(v);
    };

    // A retag: the thread about the COPD audit gains an interest by hand; the search by that
    // interest (cached a moment ago) must list it.
    let dermatology = store.interest_by_slug("dermatology").unwrap().unwrap();
    let (copd, _) = store.locate("copd-1@example.org").unwrap().unwrap();
    let before = results(&site, "interest:dermatology").await;
    assert_eq!(results(&site, "interest:dermatology").await, before);
    store
        .set_manual_tag(copd, dermatology.id, true, moderator, 1)
        .unwrap();
    changed(&store, "a retag");
    assert!(
        results(&site, "interest:dermatology").await > before,
        "a cached search did not see the retag"
    );

    // New mail: a word nobody wrote before is found once it arrives.
    assert_eq!(results(&site, "zebrafish").await, 0);
    let mail = site.dir().join("new.mbox");
    std::fs::write(
        &mail,
        "From x@y Mon Jan  1 00:00:00 2024\nFrom: New Person <new.person@example.org>\n\
         Subject: [SNUG] Zebrafish\nMessage-ID: <zebra-1@example.org>\n\
         Date: Mon, 1 Jan 2024 10:00:00 +0000\n\nA note on zebrafish.\n",
    )
    .unwrap();
    import(&site, &mut store, &mail);
    changed(&store, "new mail");
    assert_eq!(results(&site, "zebrafish").await, 1);

    // A moderator hides it: gone from the cached search.
    let config = site.config.clone();
    decide(
        &mut store,
        &config,
        "zebra-1@example.org",
        moderator,
        &Decision::Hide { note: None },
        2,
    )
    .unwrap();
    changed(&store, "hiding");
    assert_eq!(results(&site, "zebrafish").await, 0);
    decide(
        &mut store,
        &config,
        "zebra-1@example.org",
        moderator,
        &Decision::Unhide,
        3,
    )
    .unwrap();
    changed(&store, "showing again");
    assert_eq!(results(&site, "zebrafish").await, 1);

    // A threading fix.
    let (asthma, _) = store.locate("asthma-2@example.net").unwrap().unwrap();
    fix_thread(
        &mut store,
        &FixRequest::Split {
            thread: asthma,
            message_id: "asthma-2@example.net".to_owned(),
        },
        moderator,
        4,
    )
    .unwrap();
    changed(&store, "a threading fix");
    assert_ne!(
        store.locate("asthma-2@example.net").unwrap().unwrap().0,
        asthma
    );

    // A purge.
    listbridge::forum::erasure::purge(
        &mut store,
        &config,
        "zebra-1@example.org",
        false,
        listbridge::store::Actor::Cli,
        "test",
        5,
    )
    .unwrap();
    changed(&store, "a purge");
    assert_eq!(results(&site, "zebrafish").await, 0);
}

/// The thread page cached for readers who are not signed in is keyed by the thread and the
/// archive's version alone, so everything the page shows besides the mail must raise it: a
/// member's like, an interest renamed (both by another process than the server's).
#[tokio::test]
async fn a_cached_thread_page_shows_a_like_and_a_renamed_interest_at_once() {
    let (site, store, member) = sample_site("Ann Member", "ann@members.example", Role::Member);
    let (copd, _) = store.locate("copd-1@example.org").unwrap().unwrap();
    let page = format!("/t/{}", copd.0);
    let likes = |body: &str| body.matches("1 like").count();
    let before = site.get_anonymous(&page).await;
    assert_eq!(before.status, 200);
    // Served again from the cache: the same page.
    assert_eq!(site.get_anonymous(&page).await.body, before.body);

    store.toggle_like(member, "copd-1@example.org", 1).unwrap();
    let liked = site.get_anonymous(&page).await;
    assert!(
        likes(&liked.body) > likes(&before.body),
        "the cached page did not show the new like"
    );

    let mut interest = store
        .interests()
        .unwrap()
        .into_iter()
        .find(|i| liked.body.contains(&format!(">{}<", i.rules.name)))
        .expect("the thread shows one of its interests");
    interest.rules.name = "Renamed interest".to_owned();
    store.save_interest(&interest, 2).unwrap();
    let renamed = site.get_anonymous(&page).await;
    assert!(
        renamed.body.contains("Renamed interest"),
        "the cached page did not show the interest's new name"
    );
}
