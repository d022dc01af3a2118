//! Private stays private (invariant 7): every route of the router, read from its source so a
//! new route cannot be missed, is walked with GET and POST as a reader not signed in, as a
//! member of another private list, and as a member of the private list, with every parameter
//! pointing at the private list's content (its thread, messages, attachment, event, author,
//! interest). No answer to the first two may carry anything of it; the member must see it; and
//! no POST of theirs may change anything.

mod common;

use axum::http::StatusCode;
use common::app::{Site, Visitor};
use listbridge::store::{Role, Store, ThreadId, UserId};

/// Words only the private list's mail holds (subject, body, attachment, addresses, event).
const SECRETS: [&str; 3] = ["kestrel", "closed.example", "quillfeather"];

/// The route patterns, from the list the router is built from.
fn declared_routes() -> Vec<String> {
    listbridge::web::route_patterns()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// What the walk points at.
struct Forum {
    site: Site,
    thread: ThreadId,
    event: i64,
    sha: String,
    author: UserId,
    /// Session cookie and form token of: the list's member, a member of another private list.
    member: (String, String),
    outsider: (String, String),
    moderator: (String, String),
}

fn session(store: &Store, user: UserId) -> (String, String) {
    let token = listbridge::tokens::new_token();
    let csrf = listbridge::tokens::new_token();
    store
        .create_session(&listbridge::tokens::hash(&token), user, &csrf, now())
        .unwrap();
    (token, csrf)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn forum(hide_addresses: bool) -> Forum {
    // The sample archive's interests too.
    let site = Site::new(&format!(
        "[web]\nsite_name = \"Test forum\"\nhide_addresses = {hide_addresses}\n\
         [[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\naddress = \"snug@lists.example.org\"\n\
         [[lists]]\nname = \"closed\"\nprivate = true\nsubject_tag = \"[Closed]\"\naddress = \"closed@lists.example.org\"\n\
         [[lists]]\nname = \"other\"\nprivate = true\n{}",
        include_str!("../fixtures/sample/interests.toml")
    ));
    let config = &site.config;
    assert!(!config.interests.is_empty());
    site.import_sample_and_closed();
    let mut store = site.store();
    let (thread, _) = store.locate("kestrel-1@closed.example").unwrap().unwrap();
    let sha = site.attachment_sha("kestrel-1@closed.example");
    let [author, member, outsider, moderator] = [
        ("Priya Shah", "priya.shah@closed.example", Role::Member),
        ("Cara Jones", "cara.jones@closed.example", Role::Member),
        ("Olly Reed", "olly@other.example", Role::Member),
        ("Mo Dee", "mo@mods.example", Role::Moderator),
    ]
    .map(|(name, email, role)| store.create_user(name, email, role, 0).unwrap().0);
    store
        .add_list_members(
            "closed",
            &[
                "priya.shah@closed.example".to_owned(),
                "cara.jones@closed.example".to_owned(),
            ],
            0,
        )
        .unwrap();
    store
        .add_list_members("other", &["olly@other.example".to_owned()], 0)
        .unwrap();
    // An event announced in the private thread, with the author registered.
    let list = store.find_list("closed").unwrap();
    let mut event = common::app::kestrel_day(list);
    event.details.organiser = Some(author);
    let event = common::app::create_event(&mut store, &event);
    let member = session(&store, member);
    let outsider = session(&store, outsider);
    let moderator = session(&store, moderator);
    drop(store);
    Forum {
        site,
        thread,
        event: event.0,
        sha,
        author,
        member,
        outsider,
        moderator,
    }
}

impl Forum {
    /// A pattern with every parameter pointing at the private list's content.
    fn fill(&self, pattern: &str) -> String {
        let id = if pattern.starts_with("/events/") {
            self.event.to_string()
        } else if pattern.starts_with("/u/") {
            self.author.0.to_string()
        } else {
            self.thread.0.to_string()
        };
        let uri = common::app::private_route(pattern, self.thread.0, &self.sha, &id);
        // Searches and filters ask for the private list's words too (a word that is not one
        // of the secrets, since a search page shows what was asked).
        format!("{uri}?q=zephyrine&list=closed")
    }

    /// A request as `who` (session cookie and form token), or as a reader not signed in.
    /// A POST sends every field any form has, pointing at the private list's message.
    async fn send(
        &self,
        method: &str,
        uri: &str,
        who: Option<&(String, String)>,
    ) -> (StatusCode, String) {
        let mut visitor = Visitor::default();
        let mut form = Vec::new();
        if let Some((token, csrf)) = who {
            visitor = Visitor::with_session(token);
            form.push(("csrf", csrf.as_str()));
        }
        form.extend([
            ("message_id", "kestrel-1@closed.example"),
            ("parent", "kestrel-1@closed.example"),
            ("subject", "Kestrel"),
            ("text", "Kestrel reply"),
            ("action", "post"),
            ("mode", "watch"),
            ("interest", "asthma"),
            ("ticket", ""),
            ("capacity", "20"),
            ("deadline", ""),
            ("payment_url", ""),
            ("decision", "publish"),
            ("reason", "patient"),
            ("note", "Kestrel"),
            ("to", "/t/1"),
            ("into", "/t/1"),
        ]);
        let answer = self.site.send(&mut visitor, method, uri, &form).await;
        // Headers count as much as the body (a redirect's Location, a file name).
        let text = format!("{:?}\n{}", answer.headers, answer.body);
        (answer.status, text)
    }

    /// What POSTs could have changed, to compare before and after.
    fn footprint(&self) -> Vec<i64> {
        let conn = rusqlite::Connection::open(&self.site.db).unwrap();
        [
            "likes",
            "registrations",
            "posts",
            "outbox",
            "thread_prefs",
            "manual_tags",
            "held_posts",
            "messages",
            "events",
            "flags",
            "hidden_messages",
            "thread_fixes",
            "moderation_log",
        ]
        .iter()
        .map(|t| {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        })
        .collect()
    }
}

fn leaked(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    SECRETS.into_iter().find(|s| lower.contains(s))
}

#[tokio::test]
async fn no_route_shows_a_private_list_to_anyone_but_its_members() {
    let forum = forum(false);
    let routes = declared_routes();
    assert!(routes.len() >= 60, "routes found: {routes:?}");
    let before = forum.footprint();
    let mut requests = 0;
    for (role, who) in [
        ("a reader not signed in", None),
        ("a member of another list", Some(&forum.outsider)),
    ] {
        for pattern in &routes {
            let uri = forum.fill(pattern);
            for method in ["GET", "POST"] {
                // Signing out would make the rest of the walk anonymous; it shows nothing.
                if method == "POST" && who.is_some() && pattern.starts_with("/signout") {
                    continue;
                }
                let (status, text) = forum.send(method, &uri, who).await;
                assert!(
                    !status.is_server_error(),
                    "{method} {uri} as {role}: {status}"
                );
                if let Some(secret) = leaked(&text) {
                    panic!("{method} {uri} as {role} shows {secret:?}: {status}\n{text}");
                }
                requests += 1;
            }
        }
    }
    assert_eq!(
        forum.footprint(),
        before,
        "a POST by a reader who may not see the list changed something"
    );

    // The list's own member (and a moderator) sees it wherever it is shown.
    for who in [&forum.member, &forum.moderator] {
        for pattern in [
            "/t/{thread}",
            "/l/{list}",
            "/search",
            "/api/threads/{thread}",
            "/api/search",
            "/api/messages/{*message_id}",
            "/t/{thread}/mbox",
            "/att/{sha}/{name}",
            "/events/{id}",
            "/events/{id}/event.ics",
            "/a/{address}",
            "/u/{id}",
            "/i/{slug}",
        ] {
            let uri = forum.fill(pattern);
            let (status, text) = forum.send("GET", &uri, Some(who)).await;
            assert_eq!(status, StatusCode::OK, "GET {uri} as a member: {text}");
            assert!(leaked(&text).is_some(), "GET {uri} as a member: {text}");
            requests += 1;
        }
    }
    // And the walk's own check can fail: the same member, signed out, sees nothing of it.
    let (status, _) = forum.send("GET", &forum.fill("/t/{thread}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    println!(
        "{} routes walked with GET and POST as two outsiders, {requests} requests, 0 leaks",
        routes.len()
    );
}

#[tokio::test]
async fn readers_not_signed_in_see_no_address() {
    let forum = forum(true);
    let addresses: Vec<String> = {
        let conn = rusqlite::Connection::open(&forum.site.db).unwrap();
        let mut stmt = conn
            .prepare("SELECT DISTINCT lower(from_addr) FROM messages m JOIN lists l ON l.id = m.list_id WHERE l.name = 'snug'")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert!(addresses.len() >= 5, "{addresses:?}");
    let public = |pattern: &str| {
        pattern
            .replace("{thread}", "1")
            .replace("{*message_id}", "asthma-1@example.org")
            .replace("{list}", "snug")
            .replace("{address}", "amira.khan@example.org")
            .replace("{slug}", "asthma")
            .replace("{id}", "1")
            .replace("{sha}", &"0".repeat(64))
            .replace("{name}", "a.pdf")
            .replace("{token}", "no-such-token")
    };
    let mut requests = 0;
    for pattern in listbridge::web::route_patterns() {
        let uri = public(pattern);
        let (status, text) = forum.send("GET", &uri, None).await;
        assert!(!status.is_server_error(), "GET {uri}: {status}");
        let lower = text.to_lowercase();
        if let Some(a) = addresses.iter().find(|a| lower.contains(a.as_str())) {
            panic!("GET {uri} shows {a} to a reader not signed in: {text}");
        }
        requests += 1;
    }
    // Permalinks, made of Message-IDs, still work; the thread names its authors.
    let (_, thread) = forum.send("GET", "/t/1", None).await;
    assert!(thread.contains("/m/asthma-1@example.org"), "{thread}");
    assert!(thread.contains("Amira Khan"), "{thread}");
    // Raw mail is for members.
    let (status, _) = forum.send("GET", "/t/1/mbox", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A member sees the addresses.
    let (_, thread) = forum.send("GET", "/t/1", Some(&forum.outsider)).await;
    let lower = thread.to_lowercase();
    assert!(
        addresses.iter().any(|a| lower.contains(a.as_str())),
        "{thread}"
    );
    println!("{requests} routes read as a reader not signed in: no address shown");
}
