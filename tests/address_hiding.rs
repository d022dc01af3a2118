//! Addresses kept from readers who are not signed in (`[web] hide_addresses`, on by default):
//! no page, feed, API answer or search lets them read or confirm an address; members see them.

mod common;

use common::app::{Site, Visitor, encode};
use listbridge::store::Role;

const CONFIG: &str = "[web]\nsite_name = \"Test forum\"\n\
                      [[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n";

fn site() -> Site {
    let site = Site::new(CONFIG);
    let mut store = site.store();
    listbridge::archive::pipeline::import(
        &mut store,
        &[common::fixtures_dir().join("sample/snug-2024.mbox")],
        "snug",
        &site.config.render_options("snug"),
        0,
    )
    .unwrap();
    site
}

/// How many messages `/api/search` finds for `query`, as `who` (None: not signed in).
async fn found(site: &Site, who: Option<&mut Visitor>, query: &str) -> u64 {
    let uri = format!("/api/search?q={}", encode(query));
    let answer = match who {
        Some(who) => site.get(who, &uri).await,
        None => site.get_anonymous(&uri).await,
    };
    assert_eq!(answer.status, 200, "{query}: {}", answer.body);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    // The page says the same.
    let page = site
        .get_anonymous(&format!("/search?q={}", encode(query)))
        .await;
    assert_eq!(page.status, 200);
    json["total"].as_u64().unwrap()
}

#[tokio::test]
async fn from_search_matches_names_only_for_readers_not_signed_in() {
    let site = site();
    let (mut member, _) = site
        .member("cara@example.org", "Cara Jones", Role::Member)
        .await;
    // Names are found by anyone, in full or by the start of a word.
    assert_eq!(found(&site, None, "from:okafor").await, 1);
    assert_eq!(found(&site, None, "from:\"tom ok\"").await, 1);
    // An exact address, a prefix of one that is not the name, a domain: nothing, for a reader
    // not signed in; a member finds them.
    for (query, expected) in [
        ("from:locum@example.org", 1),
        ("from:pm.hammersmith", 1),
        ("from:pm.ham", 1),
        ("from:example.nhs", 2),
        ("from:example", 19),
        ("-from:locum@example.org asthma", 0),
    ] {
        let anonymous = found(&site, None, query).await;
        let signed_in = found(&site, Some(&mut member), query).await;
        if expected > 0 {
            assert_eq!(anonymous, 0, "{query} confirmed an address");
            assert!(signed_in >= expected, "{query}: a member found {signed_in}");
        } else {
            // Excluding an address excludes nothing for them: the count does not tell.
            assert_eq!(anonymous, found(&site, None, "asthma").await, "{query}");
        }
    }
}
