//! The forum in-process, for web tests without a socket or a mail server: the router over a
//! database in a temporary folder, called with `tower`'s `oneshot`; visitors who keep their
//! cookies and send forms as a browser does (URL-encoded, with the page's hidden tokens); the
//! command line on the same database and configuration; and the sign-in steps every such test
//! takes. The socket client of the live tests (`web.rs`) keeps its cookies and encodes its
//! forms with the same [`Visitor`] and [`form_body`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use listbridge::config::Config;
use listbridge::store::{DeriveSettings, EventDetails, EventId, ListId, NewEvent, Role, Store};
use listbridge::web::{AppState, router};
use tower::ServiceExt;

/// A one-hour event posted on the web, starting at 4_000_000_000 (London time), announced by
/// `message_id` in `list`, with no deadline, payment, tickets or organiser (set them with `..`).
pub fn study_day(
    uid: &str,
    message_id: impl Into<listbridge::mail::ids::MessageId>,
    list: ListId,
    (title, description): (&str, &str),
    place: &str,
    capacity: u32,
) -> NewEvent {
    NewEvent {
        list,
        details: EventDetails {
            uid: uid.to_owned(),
            message_id: message_id.into(),
            title: title.to_owned(),
            description: description.to_owned(),
            starts_at: 4_000_000_000,
            ends_at: 4_000_003_600,
            time_zone: "Europe/London".to_owned(),
            place: Some(place.to_owned()),
            capacity: Some(capacity),
            ..EventDetails::default()
        },
        source: "web",
        tickets: Vec::new(),
        interests: Vec::new(),
    }
}

/// The study day the private-list tests announce in the thread of `kestrel-1@closed.example`
/// (`fixtures/private/closed.mbox`), in `list`.
pub fn kestrel_day(list: ListId) -> NewEvent {
    study_day(
        "kestrel-day@test",
        "kestrel-1@closed.example",
        list,
        ("Kestrel ward study day", "For the Kestrel partners."),
        "Kestrel ward",
        10,
    )
}

/// A route pattern of the router with every parameter pointing at the private list `closed`
/// of `fixtures/private/closed.mbox`: its thread, its attachment (`sha`), and `id` for `{id}`.
pub fn private_route(pattern: &str, thread: i64, sha: &str, id: &str) -> String {
    pattern
        .replace("{thread}", &thread.to_string())
        .replace("{*message_id}", "kestrel-1@closed.example")
        .replace("{list}", "closed")
        .replace("{address}", "priya.shah@closed.example")
        .replace("{sha}", sha)
        .replace("{name}", "kestrel-rota.txt")
        .replace("{slug}", "asthma")
        .replace("{token}", "no-such-token")
        .replace("{id}", id)
}

/// Stores `event` in a run of its own: its id.
pub fn create_event(store: &mut Store, event: &NewEvent) -> EventId {
    let run = store.begin_run("test", 0).unwrap();
    let writer = store.writer(run).unwrap();
    let id = writer.create_event(event, 0).unwrap();
    writer.commit().unwrap();
    id
}

/// A forum: its router, database and configuration file, in a folder removed when it goes.
pub struct Site {
    pub app: axum::Router,
    pub db: PathBuf,
    pub config_file: PathBuf,
    pub config: Config,
    dir: tempfile::TempDir,
}

/// A visitor: their cookies, sent with each request and kept from each answer, the address
/// they connect from (as a server over a socket would know it), if any, and headers their
/// requests carry (a proxy's `X-Forwarded-For`).
#[derive(Default, Clone)]
pub struct Visitor {
    pub cookies: HashMap<String, String>,
    pub from: Option<std::net::SocketAddr>,
    pub headers: Vec<(String, String)>,
}

/// An answer: status, Location (empty when none), headers and body.
pub struct Answer {
    pub status: StatusCode,
    pub location: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// Asserts that a form was refused as invalid (422), saying `words`.
    pub fn assert_refused(&self, words: &str) {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            self.body
        );
        assert!(
            self.body.contains(words),
            "{words:?} missing from:\n{}",
            self.body
        );
    }

    /// The status, Location, headers and whole body of a response.
    pub async fn read(response: axum::response::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            location,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

impl Site {
    /// A forum with this configuration (also written to `config.toml` for the command line)
    /// over an empty database.
    pub fn new(config: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("forum.db");
        let config_file = dir.path().join("config.toml");
        std::fs::write(&config_file, config).unwrap();
        let config = Config::parse(config).unwrap();
        Site {
            app: app(&config, &db),
            db,
            config_file,
            config,
            dir,
        }
    }

    /// A forum with this configuration over the sample archive (`fixtures/sample/snug-2024.mbox`)
    /// imported into its list `snug`.
    pub fn with_sample(config: &str) -> Site {
        let site = Site::new(config);
        site.import("sample/snug-2024.mbox", "snug");
        site
    }

    /// The configured interests seeded, the sample imported into `snug` and the private
    /// fixture (`private/closed.mbox`) into `closed`.
    pub fn import_sample_and_closed(&self) {
        self.store()
            .seed_interests(&self.config.new_interests(), 0)
            .unwrap();
        self.import("sample/snug-2024.mbox", "snug");
        self.import("private/closed.mbox", "closed");
    }

    /// The SHA-256 of the attachment of the message with this Message-ID.
    pub fn attachment_sha(&self, message_id: &str) -> String {
        rusqlite::Connection::open(&self.db)
            .unwrap()
            .query_row(
                "SELECT a.sha256 FROM message_attachments a JOIN messages m ON m.id = a.message
                 WHERE m.message_id = ?1",
                [message_id],
                |r| r.get(0),
            )
            .expect("the fixture's attachment")
    }

    /// Imports a file of `fixtures/` into `list`, as `listbridge import` would.
    pub fn import(&self, fixture: &str, list: &str) {
        listbridge::archive::pipeline::import(
            &mut self.store(),
            &[crate::common::fixtures_dir().join(fixture)],
            list,
            &self.config.render_options(list),
            0,
        )
        .unwrap();
    }

    /// The forum's folder (its database and configuration are there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh web server over the same database (as after a restart: no cache kept).
    pub fn restart(&mut self) {
        self.app = app(&self.config, &self.db);
    }

    pub fn store(&self) -> Store {
        Store::open(&self.db, DeriveSettings::default()).unwrap()
    }

    /// `listbridge ARGS` on this forum's database and configuration.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_listbridge"))
            .arg("--db")
            .arg(&self.db)
            .arg("--config")
            .arg(&self.config_file)
            .args(args)
            .env_remove("LISTBRIDGE_DB")
            .env_remove("LISTBRIDGE_CONFIG")
            .output()
            .unwrap()
    }

    /// [`Site::cli`] that must succeed: its standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "listbridge {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// One request as `who`, whose cookies it sends and updates. A form is sent URL-encoded
    /// with a POST (a GET has its parameters in `uri`). Every session cookie the forum sets
    /// must be out of scripts' and other sites' reach, and Secure on an https forum.
    pub async fn send(
        &self,
        who: &mut Visitor,
        method: &str,
        uri: &str,
        form: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(from) = who.from {
            request = request.extension(axum::extract::ConnectInfo(from));
        }
        for (name, value) in &who.headers {
            request = request.header(name, value);
        }
        if let Some(cookie) = who.cookie_header() {
            request = request.header(header::COOKIE, cookie);
        }
        let body = if method == "POST" {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            form_body(form)
        } else {
            String::new()
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let secure = self.config.web.base_url.starts_with("https://");
        for value in response.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            if text.starts_with("lb_session=") {
                assert!(
                    text.contains("HttpOnly") && text.contains("SameSite=Lax"),
                    "{text}"
                );
                assert!(
                    !secure || text.contains("Secure"),
                    "an https forum marks its cookies Secure: {text}"
                );
            }
        }
        who.keep_cookies(response.headers());
        Answer::read(response).await
    }

    pub async fn get(&self, who: &mut Visitor, uri: &str) -> Answer {
        self.send(who, "GET", uri, &[]).await
    }

    pub async fn post(&self, who: &mut Visitor, uri: &str, form: &[(&str, &str)]) -> Answer {
        self.send(who, "POST", uri, form).await
    }

    /// A GET by a reader not signed in, with no cookie.
    pub async fn get_anonymous(&self, uri: &str) -> Answer {
        self.get(&mut Visitor::default(), uri).await
    }

    /// `who` sends the form at `uri` with their form token `csrf` and these fields.
    pub async fn submit(
        &self,
        (who, csrf): (&mut Visitor, &str),
        uri: &str,
        fields: &[(&str, &str)],
    ) -> Answer {
        let mut form = vec![("csrf", csrf)];
        form.extend_from_slice(fields);
        self.post(who, uri, &form).await
    }

    /// `who` saves these fields of their profile (the account page's form).
    pub async fn save_profile(&self, who: (&mut Visitor, &str), fields: &[(&str, &str)]) -> Answer {
        self.submit(who, "/account", fields).await
    }

    /// `who` sets a password, typed twice (`password`, then `confirm`).
    pub async fn set_password(
        &self,
        who: (&mut Visitor, &str),
        password: &str,
        confirm: &str,
    ) -> Answer {
        let fields = [("password", password), ("confirm", confirm)];
        self.submit(who, "/account/password", &fields).await
    }

    /// `who` starts a thread in `snug` (the new-thread form, posted).
    pub async fn new_thread(&self, who: (&mut Visitor, &str), subject: &str, text: &str) -> Answer {
        let fields = [("subject", subject), ("text", text), ("action", "post")];
        self.submit(who, "/l/snug/new", &fields).await
    }

    /// Signs in with a password on the sign-in page's form (whose `form_token` is given).
    pub async fn password_sign_in(
        &self,
        who: &mut Visitor,
        form_token: &str,
        email: &str,
        password: &str,
    ) -> Answer {
        let fields = [
            ("form_token", form_token),
            ("email", email),
            ("password", password),
        ];
        self.post(who, "/signin/password", &fields).await
    }

    /// `who` sends the reply form of `thread` (with the `csrf` and `parent` it was given):
    /// `text`, to `action` (post or preview).
    pub async fn reply(
        &self,
        who: &mut Visitor,
        thread: i64,
        (csrf, parent): (&str, &str),
        (text, action): (&str, &str),
    ) -> Answer {
        let form = [
            ("csrf", csrf),
            ("parent", parent),
            ("text", text),
            ("action", action),
        ];
        self.post(who, &format!("/t/{thread}/reply"), &form).await
    }

    /// Asks on the sign-in page (its form token read from it) for a link mailed, with these
    /// fields (email, name, next): the answer.
    pub async fn ask_link(&self, who: &mut Visitor, fields: &[(&str, &str)]) -> Answer {
        let page = self.get(who, "/signin").await;
        let token = hidden(&page.body, "form_token");
        let mut form = vec![("form_token", token.as_str())];
        form.extend_from_slice(fields);
        self.post(who, "/signin/link", &form).await
    }

    /// The sign-in link of the newest mail queued to `address` (a path on the forum, whose
    /// base URL is `https://forum.test`); the queue is left as it was.
    pub fn mailed_link(&self, address: &str) -> String {
        let mut store = self.store();
        let due = store.claim_due(i64::MAX, 1000).unwrap();
        let due = due
            .iter()
            .rev()
            .find(|d| d.recipient.address.eq_ignore_ascii_case(address))
            .expect("a mail to the address");
        let raw = store.outbox_message(due.outbox).unwrap().unwrap();
        store.recover_outbox(0, 1800).unwrap();
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let text = message.body_text(0).unwrap().into_owned();
        let link = text
            .split_whitespace()
            .find(|w| w.starts_with("https://forum.test/signin/"))
            .unwrap_or_else(|| panic!("no link in {text}"));
        link.trim_start_matches("https://forum.test").to_owned()
    }

    /// Opens a one-time sign-in link (it must show its page) and presses its button, asking
    /// to go to `next` (the form's own choice when `None`): the answer to the press.
    pub async fn press_link(&self, who: &mut Visitor, link: &str, next: Option<&str>) -> Answer {
        let page = self.get(who, link).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let token = hidden(&page.body, "form_token");
        let path = link.split('?').next().unwrap().to_owned();
        let mut form = vec![("form_token", token.as_str())];
        form.extend(next.map(|next| ("next", next)));
        self.post(who, &path, &form).await
    }

    /// A member with this role, signed in through a one-time link as anyone would be; their
    /// visitor and the CSRF token of their forms.
    pub async fn member(&self, address: &str, name: &str, role: Role) -> (Visitor, String) {
        let now = chrono::Utc::now().timestamp();
        let token = listbridge::tokens::new_token();
        {
            let mut store = self.store();
            let (user, _) = store.create_user(name, address, role, now).unwrap();
            store.set_role(user, role).unwrap();
            store
                .create_sign_in_link(
                    &listbridge::tokens::hash(&token),
                    address,
                    Some(name),
                    now,
                    now + 600,
                )
                .unwrap();
        }
        let mut who = Visitor::default();
        let done = self
            .press_link(&mut who, &format!("/signin/{token}"), Some("/"))
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        let home = self.get(&mut who, "/").await;
        let csrf = hidden(&home.body, "csrf");
        (who, csrf)
    }
}

impl Visitor {
    /// A visitor holding a session made outside the sign-in pages.
    pub fn with_session(token: &str) -> Visitor {
        let mut who = Visitor::default();
        who.cookies
            .insert("lb_session".to_owned(), token.to_owned());
        who
    }

    /// The Cookie header a browser would send, if any.
    pub fn cookie_header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        Some(pairs.join("; "))
    }

    /// Keeps the cookies an answer sets, and forgets those it removes (emptied or expired).
    pub fn keep_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }
}

fn app(config: &Config, db: &Path) -> axum::Router {
    router(AppState::new(
        config.clone(),
        db.to_owned(),
        DeriveSettings::default(),
        Default::default(),
    ))
}

/// A form's fields as `application/x-www-form-urlencoded`.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of a hidden input of a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in the page:\n{page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Percent-encodes everything but letters and digits (a query parameter or form field).
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
