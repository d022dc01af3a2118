//! Addresses kept from readers who are not signed in (`[web] hide_addresses`, on by default):
//! no page, feed, API answer or search lets them read or confirm an address; members see them.

mod common;

use common::app::{Site, Visitor, encode};
use listbridge::store::Role;

const CONFIG: &str = "[web]\nsite_name = \"Test forum\"\n\
                      [[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n";

fn site() -> Site {
    Site::with_sample(CONFIG)
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

/// Mail that spells addresses every way a reader would read one, a mail that references an
/// address as if it were a Message-ID, and one that takes an address as its own Message-ID
/// (which anyone who can post can do).
const SIDE_DOORS: &str = "From a@b Mon Jan  1 00:00:00 2024
From: \"J Smith\" <j.smith@nhs.net>
Subject: [SNUG] Side doors
Message-ID: <smith-1@example.org>
Date: Mon, 1 Jan 2024 10:00:00 +0000

Write to j.smith@nhs.net, or ask o'brien@gp.nhs.uk about it.

From a@b Mon Jan  1 00:00:00 2024
From: \"Mallory\" <mallory@example.org>
Subject: Re: [SNUG] Side doors
Message-ID: <mallory-1@example.org>
In-Reply-To: <smith-1@example.org>
References: <j.smith@nhs.net> <smith-1@example.org>
Date: Mon, 1 Jan 2024 11:00:00 +0000

Unmasked?

From a@b Mon Jan  1 00:00:00 2024
From: \"Mallory\" <mallory@example.org>
Subject: Re: [SNUG] Side doors
Message-ID: <j.smith@nhs.net>
In-Reply-To: <smith-1@example.org>
References: <smith-1@example.org>
Date: Mon, 1 Jan 2024 11:30:00 +0000

Unmasked now?

From a@b Mon Jan  1 00:00:00 2024
From: \"Jane Ünï\" <jane@nhs.ünï.org>
Subject: Re: [SNUG] Side doors
Message-ID: <idn-1@example.org>
In-Reply-To: <smith-1@example.org>
References: <smith-1@example.org>
Date: Mon, 1 Jan 2024 12:00:00 +0000
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<p>Mine is jane@nhs.ünï.org; <a href=\"mailto:jane%40nhs.net\">mail jane%40nhs.net</a>.</p>

";

/// What must never reach a reader not signed in, in any form.
const FULL: [&str; 7] = [
    "j.smith@nhs.net",
    "jane@nhs.ünï.org",
    "jane%40nhs.net",
    "jane@nhs.net",
    "o'brien",
    "o&#39;brien",
    "o&#x27;brien",
];

#[tokio::test]
async fn addresses_hidden_at_render_time_through_every_side_door() {
    let site = site();
    let mut store = site.store();
    let mbox = site.dir().join("doors.mbox");
    std::fs::write(&mbox, SIDE_DOORS).unwrap();
    listbridge::archive::pipeline::import(
        &mut store,
        &[mbox],
        "snug",
        &site.config.render_options("snug"),
        0,
    )
    .unwrap();
    let (thread, _) = store.locate("smith-1@example.org").unwrap().unwrap();
    assert_eq!(
        store.locate("idn-1@example.org").unwrap().unwrap().0,
        thread
    );
    let thread = thread.0.to_string();
    let mut uris: Vec<String> = listbridge::web::route_patterns()
        .into_iter()
        .map(|pattern| {
            pattern
                .replace("{thread}", &thread)
                .replace("{*message_id}", "smith-1@example.org")
                .replace("{list}", "snug")
                .replace("{address}", "j.smith@nhs.net")
                .replace("{slug}", "asthma")
                .replace("{id}", "1")
                .replace("{sha}", &"0".repeat(64))
                .replace("{name}", "a.pdf")
                .replace("{token}", "no-such-token")
        })
        .collect();
    for extra in [
        format!("/t/{thread}?view=nested"),
        "/api/messages/idn-1@example.org".to_owned(),
        "/api/messages/mallory-1@example.org".to_owned(),
        "/api/messages/j.smith@nhs.net".to_owned(),
        "/m/j.smith@nhs.net".to_owned(),
    ] {
        uris.push(extra);
    }
    for q in [
        "smith",
        "brien",
        "jane",
        "nhs",
        "side doors",
        "unmasked",
        "from:smith",
    ] {
        uris.push(format!("/search?q={}", encode(q)));
        uris.push(format!("/api/search?q={}", encode(q)));
    }
    // Twice: drawn, then from the caches.
    for round in 0..2 {
        for uri in &uris {
            let answer = site.get_anonymous(uri).await;
            assert!(
                !answer.status.is_server_error(),
                "GET {uri}: {}",
                answer.status
            );
            let lower = answer.body.to_lowercase();
            if let Some(full) = FULL.iter().find(|f| lower.contains(*f)) {
                panic!(
                    "GET {uri} (round {round}) shows {full} to a reader not signed in: {}",
                    answer.body
                );
            }
        }
    }
    // The page still shows the shortened forms and its permalinks.
    let page = site.get_anonymous(&format!("/t/{thread}")).await.body;
    for shown in [
        "js…@nhs.net",
        "ob…@gp.nhs.uk",
        "j…@nhs.ünï.org",
        "j…@nhs.net",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    assert!(page.contains("/m/smith-1@example.org"), "{page}");
    // A member reads them in full.
    let (mut member, _) = site
        .member("cara@example.org", "Cara Jones", Role::Member)
        .await;
    let page = site.get(&mut member, &format!("/t/{thread}")).await.body;
    assert!(page.contains("j.smith@nhs.net"), "{page}");
    assert!(page.contains("jane@nhs.ünï.org"), "{page}");
}
