//! A forum started on a private mail rig, with the helpers its tests share: `listbridge serve`
//! configured for the rig's Postfix and Dovecot, the CLI, the archive, and mail to write.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use listbridge::store::{DeriveSettings, InboundEntry, Store};
use serde_json::Value;

use super::daemon::{Daemon, free_port};
use super::rig::{self, Account, PrivateRig, Rig};
use super::web::Web;

pub const PATIENCE: Duration = Duration::from_secs(120);

pub fn write_config(dir: &Path, rig: &Rig, port: u16, mode: &str) -> PathBuf {
    write_config_with(dir, rig, port, mode, "")
}

/// [`write_config`] with more settings for the list (`key = value` lines).
pub fn write_config_with(
    dir: &Path,
    rig: &Rig,
    port: u16,
    mode: &str,
    list_extra: &str,
) -> PathBuf {
    let text = format!(
        "[web]\nlisten = \"127.0.0.1:{port}\"\nbase_url = \"http://127.0.0.1:{port}\"\nsite_name = \"SNUG forum\"\n\
         [outbound]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"plain\"\nfrom_address = \"{forum}\"\n\
         reply_address = \"reply+{{key}}@{domain}\"\nbounce_address = \"bounces+{{recipient}}@{domain}\"\n\
         [[lists]]\nname = \"snug\"\naddress = \"{list}\"\nsubject_tag = \"[SNUG]\"\nmode = \"{mode}\"\n{list_extra}\
         [[sources]]\nname = \"inbox\"\nlist = \"snug\"\nhost = \"127.0.0.1\"\nport = {imaps}\ntls = \"implicit\"\n\
         user = \"{list}\"\npassword = \"{password}\"\nmailbox = \"INBOX\"\nca_file = \"{ca}\"\npoll_seconds = 3600\n",
        smtp = rig.smtp_port,
        forum = rig.forum_address(),
        domain = rig.domain,
        list = rig.list.user,
        password = rig.list.password,
        imaps = rig.imaps_port,
        ca = rig.ca_file.display(),
    );
    let file = dir.join("config.toml");
    // Every forum here has the sample archive's interests.
    let text = text + include_str!("../../fixtures/sample/interests.toml");
    std::fs::write(&file, text).unwrap();
    file
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn cli(db: &Path, config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_listbridge"))
        .arg("--db")
        .arg(db)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("LISTBRIDGE_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "listbridge {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The sign-in link `admin create` prints.
pub fn admin_link(db: &Path, config: &Path, email: &str, name: &str) -> String {
    let out = cli(db, config, &["admin", "create", email, "--name", name]);
    out.lines()
        .find(|l| l.contains("/signin/"))
        .unwrap_or_else(|| panic!("no link in: {out}"))
        .trim()
        .to_owned()
}

pub fn store(db: &Path) -> Store {
    Store::open(db, DeriveSettings::default()).unwrap()
}

/// Parent of each archived message by `export threads --json`.
pub fn parents(db: &Path, config: &Path) -> std::collections::HashMap<String, Option<String>> {
    let json: Value =
        serde_json::from_str(&cli(db, config, &["export", "threads", "--json"])).unwrap();
    let mut found = std::collections::HashMap::new();
    for t in json["threads"].as_array().unwrap() {
        for m in t["messages"].as_array().unwrap() {
            found.insert(
                m["message_id"].as_str().unwrap().to_owned(),
                m["parent"].as_str().map(str::to_owned),
            );
        }
    }
    found
}

/// A raw mail's Message-ID without its angle brackets (empty when it has none).
pub fn message_id(raw: &[u8]) -> String {
    rig::header(raw, "Message-ID")
        .map(|h| bare(&h))
        .unwrap_or_default()
}

pub fn bare(id: &str) -> String {
    id.trim_matches(['<', '>']).to_owned()
}

pub fn mail(from: &str, to: &str, id: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {id}\r\n\
         Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n{extra}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub struct Forum {
    pub rig: PrivateRig,
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
    pub base: String,
    pub daemon: Daemon,
}

impl Forum {
    pub fn start(mode: &str) -> Forum {
        Forum::start_with(mode, "")
    }

    /// A forum whose list has more settings (`key = value` lines).
    pub fn start_with(mode: &str, list_extra: &str) -> Forum {
        let rig = PrivateRig::start();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = write_config_with(dir.path(), &rig, port, mode, list_extra);
        let db = dir.path().join("forum.db");
        let daemon = Daemon::start(&db, &config);
        let base = format!("http://127.0.0.1:{port}");
        let probe = format!("127.0.0.1:{port}");
        daemon.wait_until(Duration::from_secs(30), "the web server answers", || {
            std::net::TcpStream::connect(&probe).is_ok()
        });
        Forum {
            rig,
            dir,
            db,
            config,
            base,
            daemon,
        }
    }

    /// Mails a first post to the list and waits until it is archived: (thread, post key).
    pub async fn seed_thread(&self, subject: &str) -> (i64, i64, String) {
        let id = rig::unique_message_id("seed");
        let list = self.rig.list.user.clone();
        let alice = self.rig.alice.user.clone();
        let raw = mail(
            &format!("Alice Adams <{alice}>"),
            &list,
            &id,
            subject,
            "",
            "Which spacer do you give patients who cannot manage a mask?",
        );
        self.rig.send_raw(&alice, &[&list], &raw).await;
        let (db, wanted) = (self.db.clone(), bare(&id));
        let mut found = None;
        self.daemon
            .wait_until(PATIENCE, "the first post is archived", || {
                found = store(&db).locate(&wanted).unwrap();
                found.is_some()
            });
        let (thread, key) = found.unwrap();
        (thread.0, key, bare(&id))
    }

    /// A forum in `mode` with [`Forum::alice_and_bob`]: the forum and Alice's web client.
    pub async fn with_alice_and_bob(mode: &str) -> (Forum, Web) {
        let forum = Forum::start(mode);
        let alice = forum.alice_and_bob().await;
        (forum, alice)
    }

    /// The usual cast: Bob (bob@lists.test) imported from the old list's roster, and Alice
    /// (alice@lists.test) an admin, signed in: her web client.
    pub async fn alice_and_bob(&self) -> Web {
        self.import_roster("Bob Baker <bob@lists.test>\n");
        self.sign_in_alice().await
    }

    /// `members import` of a roster with these lines: what the command said.
    pub fn import_roster(&self, lines: &str) -> String {
        let roster = self.dir.path().join("roster.txt");
        std::fs::write(&roster, lines).unwrap();
        cli(
            &self.db,
            &self.config,
            &["members", "import", roster.to_str().unwrap()],
        )
    }

    /// Alice Adams (alice@lists.test) made an admin and signed in: her web client.
    pub async fn sign_in_alice(&self) -> Web {
        let link = admin_link(&self.db, &self.config, "alice@lists.test", "Alice Adams");
        let mut alice = Web::new(&self.base);
        alice.sign_in_with_link(&link).await;
        alice
    }

    /// Writes a mail with [`mail`] and hands it to Postfix from the address in `from`
    /// (`Name <address>`): the mail.
    pub async fn send_mail(
        &self,
        from: &str,
        to: &str,
        id: &str,
        subject: &str,
        (extra, body): (&str, &str),
    ) -> Vec<u8> {
        let raw = mail(from, to, id, subject, extra, body);
        let sender = from
            .rsplit_once('<')
            .map_or(from, |(_, a)| a.trim_end_matches('>'));
        self.rig.send_raw(sender, &[to], &raw).await;
        raw
    }

    /// [`Forum::send_mail`] from Bob Baker (bob@lists.test), with no more headers.
    pub async fn bob_mails(&self, to: &str, id: &str, subject: &str, body: &str) -> Vec<u8> {
        self.send_mail("Bob Baker <bob@lists.test>", to, id, subject, ("", body))
            .await
    }

    /// Waits until the message with this Message-ID is archived.
    pub fn wait_until_archived(&self, id: &str, what: &str) {
        let (db, wanted) = (self.db.clone(), bare(id));
        self.daemon.wait_until(PATIENCE, what, || {
            store(&db).locate(&wanted).unwrap().is_some()
        });
    }

    /// Waits until the post with this Message-ID is marked delivered (its copy came back).
    pub fn wait_until_delivered(&self, id: &str, what: &str, patience: Duration) {
        let (db, wanted) = (self.db.clone(), id.to_owned());
        self.daemon.wait_until(patience, what, || {
            store(&db)
                .post_state(&wanted)
                .unwrap()
                .is_some_and(|(_, s)| s == listbridge::store::PostState::Delivered)
        });
    }

    /// Waits until `count` posts are held for a moderator.
    pub fn wait_until_held(&self, count: usize, what: &str) {
        let db = self.db.clone();
        self.daemon.wait_until(PATIENCE, what, || {
            store(&db).held_posts(10).unwrap().len() == count
        });
    }

    /// Waits until one of the last `last` entries of the inbound log is one `check` accepts.
    pub fn wait_for_inbound(&self, what: &str, last: usize, check: impl Fn(&InboundEntry) -> bool) {
        let db = self.db.clone();
        self.daemon.wait_until(PATIENCE, what, || {
            store(&db).inbound_log(last).unwrap().iter().any(&check)
        });
    }

    /// Waits until `who`'s INBOX holds a mail that `check` accepts; returns it.
    pub async fn wait_for_mail(
        &self,
        who: &Account,
        what: &str,
        check: impl Fn(&[u8]) -> bool,
    ) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(m) = self
                .rig
                .fetch_inbox(who)
                .await
                .into_iter()
                .find(|m| check(m))
            {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no mail {what} for {}\ndaemon log:\n{}",
                who.user,
                self.daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until `who`'s INBOX holds a mail with this subject; returns it as text.
    pub async fn wait_for_subject(&self, who: &Account, subject: &str) -> String {
        let what = format!("with the subject {subject:?}");
        let mail = self
            .wait_for_mail(who, &what, |m| {
                rig::header(m, "Subject").as_deref() == Some(subject)
            })
            .await;
        String::from_utf8_lossy(&mail).into_owned()
    }

    /// Once `who`'s INBOX holds `count` mails: the one among them that `check` accepts.
    pub async fn mail_among(
        &self,
        who: &Account,
        count: usize,
        what: &str,
        check: impl Fn(&[u8]) -> bool,
    ) -> Vec<u8> {
        self.rig.wait_for_inbox_count(who, count, PATIENCE).await;
        self.rig
            .fetch_inbox(who)
            .await
            .into_iter()
            .find(|m| check(m))
            .unwrap_or_else(|| panic!("no mail {what} for {}", who.user))
    }

    /// The Reply-To of `who`'s copy of the post with this Message-ID, once their INBOX holds
    /// `count` mails.
    pub async fn reply_address(&self, who: &Account, count: usize, post: &str) -> String {
        let copy = self
            .mail_among(who, count, "copy of the post", |m| message_id(m) == post)
            .await;
        bare(&rig::header(&copy, "Reply-To").expect("a Reply-To"))
    }

    pub fn state_of(&self, message_id: &str) -> Option<String> {
        store(&self.db)
            .post_state(message_id)
            .unwrap()
            .map(|(_, s)| format!("{s:?}"))
    }
}
