//! Bounded search: the search API cuts a query as the page does, a query of too many phrases
//! is refused with a clear message on the page and in the API (signed in or not, drawn or
//! cached), and a word repeated costs what it costs once.

mod common;

use common::app::{Site, encode};
use listbridge::store::Role;

const CONFIG: &str = "[web]\nsite_name = \"Test forum\"\n\
                      [[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n";

#[tokio::test]
async fn bounded_search_cuts_and_refuses_costly_queries_on_page_and_api() {
    let site = Site::with_sample(CONFIG);
    let (mut member, _) = site
        .member("cara@example.org", "Cara Jones", Role::Member)
        .await;

    // The API reads the first 500 characters, as the page does.
    let long = format!("asthma {}", "x".repeat(5000));
    let api = site
        .get_anonymous(&format!("/api/search?q={}", encode(&long)))
        .await;
    assert_eq!(api.status, 200, "{}", api.body);
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(json["query"].as_str().unwrap().chars().count(), 500);

    // "the" 64 times is one word.
    let the = "the ".repeat(64);
    let once = site.get_anonymous("/api/search?q=the").await.body;
    let many = site
        .get_anonymous(&format!("/api/search?q={}", encode(&the)))
        .await
        .body;
    let total =
        |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap()["total"].clone();
    assert_eq!(total(&once), total(&many));

    // Nine phrases: refused, with what to do, everywhere.
    let phrases = (0..9)
        .map(|i| format!("\"inhaler technique {i}\""))
        .collect::<Vec<_>>()
        .join(" ");
    let uri = encode(&phrases);
    for round in 0..2 {
        let api = site.get_anonymous(&format!("/api/search?q={uri}")).await;
        assert_eq!(api.status, 400, "{}", api.body);
        assert!(api.body.contains("phrases in quotes"), "{}", api.body);
        let page = site.get_anonymous(&format!("/search?q={uri}")).await;
        assert!(
            page.body.contains("phrases in quotes"),
            "round {round}: {}",
            page.body
        );
        let page = site.get(&mut member, &format!("/search?q={uri}")).await;
        assert!(page.body.contains("phrases in quotes"), "{}", page.body);
        let api = site.get(&mut member, &format!("/api/search?q={uri}")).await;
        assert_eq!(api.status, 400, "{}", api.body);
    }
    // Counts say whether they are exact.
    let api = site.get_anonymous("/api/search?q=asthma").await;
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(json["exact"], serde_json::Value::Bool(true), "{}", api.body);
}
