//! A forum started on a private mail rig, with the helpers its tests share: `listbridge serve`
//! configured for the rig's Postfix and Dovecot, the CLI, the archive, and mail to write.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use listbridge::store::{DeriveSettings, Store};
use serde_json::Value;

use super::daemon::{Daemon, free_port};
use super::rig::{self, PrivateRig, Rig};

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

    /// The usual cast: Bob (bob@lists.test) imported from the old list's roster, and Alice
    /// (alice@lists.test) an admin, signed in: her web client.
    pub async fn alice_and_bob(&self) -> super::web::Web {
        let roster = self.dir.path().join("roster.txt");
        std::fs::write(&roster, "Bob Baker <bob@lists.test>\n").unwrap();
        cli(
            &self.db,
            &self.config,
            &["members", "import", roster.to_str().unwrap()],
        );
        let link = admin_link(&self.db, &self.config, "alice@lists.test", "Alice Adams");
        let mut alice = super::web::Web::new(&self.base);
        alice.sign_in_with_link(&link).await;
        alice
    }

    pub fn state_of(&self, message_id: &str) -> Option<String> {
        store(&self.db)
            .post_state(message_id)
            .unwrap()
            .map(|(_, s)| format!("{s:?}"))
    }
}
