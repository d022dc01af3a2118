//! The real mail servers of the `rig` tests (DESIGN.md, "Real parts in tests"): a Dovecot and a
//! Postfix on loopback ports, started by `scripts/mailrig start DIR`, which writes `DIR/rig.env`.
//! The tests find DIR in `$LISTBRIDGE_RIG`; `scripts/test` starts the rig and sets it.
//!
//! Postfix (plain SMTP, STARTTLS offered, no AUTH) accepts mail for the rig's domain only
//! (`user+detail@` included) and delivers it into Dovecot over LMTP; other domains get
//! 554 "Relay access denied", unknown users 550. The bridge's own addresses
//! ([`Rig::forum_address`], [`Rig::reply_address`], [`Rig::bounce_address`]) land in the list's
//! INBOX; every message delivered over SMTP starts with a `Delivered-To:` header holding its
//! envelope recipient as sent (see [`header`]). Mail for the discard domain
//! ([`Rig::member_address`]) is accepted and thrown away. Dovecot serves IMAP (STARTTLS) and
//! IMAPS with a certificate for `localhost` / `127.0.0.1` signed by the rig's own CA (`ca_file`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use lettre::address::Envelope;
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A TLS connection to the rig's Dovecot.
pub type ImapTls = TlsStream<TcpStream>;
pub type ImapClient = async_imap::Client<ImapTls>;
pub type ImapSession = async_imap::Session<ImapTls>;

/// A mailbox on the rig: its IMAP login, which is also its address.
#[derive(Clone, Debug)]
pub struct Account {
    pub user: String,
    pub password: String,
}

/// Where the running rig listens, as `scripts/mailrig` wrote it in `rig.env`.
#[derive(Clone, Debug)]
pub struct Rig {
    pub dir: PathBuf,
    /// The mail domain the rig accepts (`lists.test`).
    pub domain: String,
    pub imap_host: String,
    /// Plain IMAP, STARTTLS offered.
    pub imap_port: u16,
    /// IMAP over implicit TLS.
    pub imaps_port: u16,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// The name the server certificate is for (`localhost`; `127.0.0.1` is in it too).
    pub tls_server_name: String,
    /// PEM of the CA that signed the server certificate.
    pub ca_file: PathBuf,
    /// The list's mailbox, the one the bridge reads.
    pub list: Account,
    pub alice: Account,
    pub bob: Account,
    /// A user's Maildir is `mail_root/USER/Maildir`.
    pub mail_root: PathBuf,
    pub dovecot_log: PathBuf,
    pub postfix_log: PathBuf,
    /// Postfix's configuration folder (`sendmail -C` takes it).
    pub postfix_config_dir: PathBuf,
    /// The domain whose mail Postfix accepts and discards (`members.test`).
    pub discard_domain: String,
}

const NOT_RUNNING: &str = "the mail rig is not running: start it with scripts/mailrig start DIR \
                           and set LISTBRIDGE_RIG=DIR; scripts/test does both";

/// The running rig, read once from `$LISTBRIDGE_RIG/rig.env`. Panics with what to do when the
/// variable is unset or the file is missing: rig tests fail, never skip.
pub fn env() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let dir = std::env::var_os("LISTBRIDGE_RIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{NOT_RUNNING} (LISTBRIDGE_RIG is not set)"));
        let file = dir.join("rig.env");
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{NOT_RUNNING} ({}: {e})", file.display()));
        parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
    })
}

fn parse(text: &str) -> Result<Rig, String> {
    let vars: HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let get = |k: &str| {
        vars.get(k)
            .map(|v| v.to_string())
            .ok_or_else(|| format!("{k} is missing: restart the rig with scripts/mailrig start"))
    };
    let port = |k: &str| get(k)?.parse::<u16>().map_err(|e| format!("{k}: {e}"));
    let account = |k: &str| -> Result<Account, String> {
        Ok(Account {
            user: get(&format!("{k}_USER"))?,
            password: get(&format!("{k}_PASSWORD"))?,
        })
    };
    Ok(Rig {
        dir: get("RIG_DIR")?.into(),
        domain: get("DOMAIN")?,
        imap_host: get("IMAP_HOST")?,
        imap_port: port("IMAP_PORT")?,
        imaps_port: port("IMAPS_PORT")?,
        smtp_host: get("SMTP_HOST")?,
        smtp_port: port("SMTP_PORT")?,
        tls_server_name: get("TLS_SERVER_NAME")?,
        ca_file: get("CA_FILE")?.into(),
        list: account("LIST")?,
        alice: account("ALICE")?,
        bob: account("BOB")?,
        mail_root: get("MAIL_ROOT")?.into(),
        dovecot_log: get("DOVECOT_LOG")?.into(),
        postfix_log: get("POSTFIX_LOG")?.into(),
        postfix_config_dir: get("POSTFIX_CONFIG_DIR")?.into(),
        discard_domain: get("DISCARD_DOMAIN")?,
    })
}

/// A Message-ID (with its angle brackets) no other test or run uses.
pub fn unique_message_id(tag: &str) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("<{tag}.{nanos}.{}.{seq}@rig.test>", std::process::id())
}

impl Rig {
    /// A user's Maildir on disk.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.mail_root.join(user).join("Maildir")
    }

    /// Trusts the rig's CA, and nothing else.
    pub fn root_store(&self) -> RootCertStore {
        let pem = std::fs::read(&self.ca_file)
            .unwrap_or_else(|e| panic!("{}: {e}", self.ca_file.display()));
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.expect("a PEM certificate"))
                .expect("a usable CA certificate");
        }
        assert!(
            !roots.is_empty(),
            "no certificate in {}",
            self.ca_file.display()
        );
        roots
    }

    pub fn tls_config(&self) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(self.root_store())
            .with_no_client_auth();
        Arc::new(config)
    }

    pub fn server_name(&self) -> ServerName<'static> {
        ServerName::try_from(self.tls_server_name.clone()).expect("a DNS name")
    }

    async fn tls(&self, tcp: TcpStream) -> ImapTls {
        TlsConnector::from(self.tls_config())
            .connect(self.server_name(), tcp)
            .await
            .expect("TLS handshake with the rig's Dovecot")
    }

    /// An IMAP client over implicit TLS (IMAPS), its greeting read.
    pub async fn imap_tls(&self) -> ImapClient {
        let tcp = TcpStream::connect((self.imap_host.as_str(), self.imaps_port))
            .await
            .expect("connect to the rig's IMAPS port");
        let mut client = async_imap::Client::new(self.tls(tcp).await);
        let greeting = client.read_response().await.expect("IMAP greeting");
        assert!(
            greeting.is_some(),
            "Dovecot closed the connection before greeting"
        );
        client
    }

    /// An IMAP client on the plain port, upgraded with STARTTLS.
    pub async fn imap_starttls(&self) -> ImapClient {
        let tcp = TcpStream::connect((self.imap_host.as_str(), self.imap_port))
            .await
            .expect("connect to the rig's IMAP port");
        let mut plain = async_imap::Client::new(tcp);
        let greeting = plain.read_response().await.expect("IMAP greeting");
        assert!(
            greeting.is_some(),
            "Dovecot closed the connection before greeting"
        );
        plain
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .expect("STARTTLS");
        // Nothing follows the tagged OK until the handshake, so no buffered byte is lost here.
        async_imap::Client::new(self.tls(plain.into_inner()).await)
    }

    /// Logged in over IMAPS as `account`.
    pub async fn imap_login(&self, account: &Account) -> ImapSession {
        self.imap_tls()
            .await
            .login(&account.user, &account.password)
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("IMAP login as {}: {e}", account.user))
    }

    /// Plain SMTP to the rig's Postfix (no TLS, no AUTH).
    pub fn smtp(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.smtp_host)
            .port(self.smtp_port)
            .timeout(Some(Duration::from_secs(10)))
            .build()
    }

    /// Sends `raw` as it is (no header added or changed) with this envelope. Panics when
    /// Postfix refuses it or cannot be reached; its answer (`250 ... queued as ID`) otherwise.
    pub async fn send_raw(&self, from: &str, to: &[&str], raw: &[u8]) -> Response {
        let parse = |a: &str| {
            a.parse()
                .unwrap_or_else(|e| panic!("{a:?} is no address: {e}"))
        };
        let envelope = Envelope::new(Some(parse(from)), to.iter().map(|a| parse(a)).collect())
            .expect("an envelope");
        let response = self
            .smtp()
            .send_raw(&envelope, raw)
            .await
            .unwrap_or_else(|e| panic!("Postfix did not take the mail to {to:?}: {e}"));
        assert!(response.is_positive(), "SMTP answer: {response:?}");
        response
    }

    /// Hands a message to Postfix's `sendmail`, which drops it into the queue folder without
    /// the daemons: the way to queue mail while Postfix is stopped.
    pub fn enqueue(&self, from: &str, to: &str, raw: &[u8]) {
        use std::io::Write;
        let mut child = Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(&self.postfix_config_dir)
            .args(["-f", from, "--", to])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run Postfix's sendmail");
        child.stdin.take().unwrap().write_all(raw).unwrap();
        let out = child.wait_with_output().unwrap();
        // Without a running Postfix it warns that pickup is unreachable; the mail is queued.
        assert!(
            out.status.success(),
            "sendmail failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The bridge's own From address: lands in the list's INBOX.
    pub fn forum_address(&self) -> String {
        format!("forum@{}", self.domain)
    }

    /// A per-recipient reply address: lands in the list's INBOX, `key` kept in Delivered-To.
    pub fn reply_address(&self, key: &str) -> String {
        format!("reply+{key}@{}", self.domain)
    }

    /// A VERP bounce address: lands in the list's INBOX, `key` kept in Delivered-To.
    pub fn bounce_address(&self, key: &str) -> String {
        format!("bounces+{key}@{}", self.domain)
    }

    /// The `n`th member of a fan-out (`m0042@members.test`): accepted, never delivered.
    pub fn member_address(&self, n: u32) -> String {
        format!("m{n:04}@{}", self.discard_domain)
    }

    /// Stops and starts Dovecot on the same ports: a server restart under a connected client.
    /// On the shared rig that breaks every test running beside it: use a [`PrivateRig`].
    pub fn restart_dovecot(&self) {
        self.mailrig(&["restart-dovecot"]);
    }

    /// Stops Postfix alone; returns once its SMTP port refuses connections. Its queue stays on
    /// disk for [`Rig::start_postfix`]. On the shared rig that breaks every test running beside
    /// it: use a [`PrivateRig`].
    pub fn stop_postfix(&self) {
        self.mailrig(&["stop-postfix"]);
    }

    /// Starts a stopped Postfix again on the same port; returns once it greets. It then
    /// delivers what it had queued.
    pub fn start_postfix(&self) {
        self.mailrig(&["start-postfix"]);
    }

    /// Waits until `account`'s INBOX holds at least `count` messages; how many it holds then.
    /// Panics after `timeout`. (On the shared rig other tests add to INBOXes too: exact counts
    /// need a [`PrivateRig`].)
    pub async fn wait_for_inbox_count(
        &self,
        account: &Account,
        count: usize,
        timeout: Duration,
    ) -> usize {
        let mut session = self.imap_login(account).await;
        session.examine("INBOX").await.expect("EXAMINE INBOX");
        let deadline = Instant::now() + timeout;
        let held = loop {
            // NOOP lets Dovecot see mail delivered since the last command.
            session.noop().await.expect("IMAP NOOP");
            let held = session.uid_search("ALL").await.expect("UID SEARCH").len();
            if held >= count {
                break held;
            }
            assert!(
                Instant::now() < deadline,
                "{}'s INBOX holds {held} messages, not {count}, after {timeout:?}",
                account.user
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        session.logout().await.expect("LOGOUT");
        held
    }

    /// Every message of `account`'s INBOX, raw, in UID order (none marked \Seen).
    pub async fn fetch_inbox(&self, account: &Account) -> Vec<Vec<u8>> {
        let mut session = self.imap_login(account).await;
        let mailbox = session.examine("INBOX").await.expect("EXAMINE INBOX");
        let mut messages = Vec::new();
        if mailbox.exists > 0 {
            let fetches: Vec<_> = session
                .uid_fetch("1:*", "(UID BODY.PEEK[])")
                .await
                .expect("IMAP UID FETCH")
                .try_collect()
                .await
                .expect("IMAP UID FETCH responses");
            let mut by_uid: Vec<(u32, Vec<u8>)> = fetches
                .iter()
                .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
                .collect();
            by_uid.sort_by_key(|(uid, _)| *uid);
            messages = by_uid.into_iter().map(|(_, raw)| raw).collect();
        }
        session.logout().await.expect("LOGOUT");
        messages
    }

    /// Waits until Postfix has logged the outcome for `recipient` of the message it queued as
    /// `queue_id` (see [`queue_id`]); that log line (`... to=<...>, relay=..., status=sent
    /// (...)`). Panics after `timeout`.
    pub async fn wait_for_postfix_outcome(
        &self,
        queue_id: &str,
        recipient: &str,
        timeout: Duration,
    ) -> String {
        let needle = format!(" {queue_id}: to=<{recipient}>,");
        let deadline = Instant::now() + timeout;
        loop {
            let log = std::fs::read_to_string(&self.postfix_log).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains(&needle)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "Postfix logged no outcome for {recipient} of {queue_id} in {timeout:?} ({})",
                self.postfix_log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The message files in any user's Maildir (any folder) that contain `needle`: where a
    /// message was delivered, found on disk without knowing the user.
    pub fn delivered_files_containing(&self, needle: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, needle: &[u8], found: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, needle, found);
                } else if path
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|d| d == "new" || d == "cur")
                    && std::fs::read(&path)
                        .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
                {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.mail_root, needle.as_bytes(), &mut found);
        found
    }

    /// Puts message files (or every file of a folder, in name order) straight into `user`'s
    /// INBOX, bypassing SMTP: fast seeding of big mailboxes; UIDs follow the order given.
    pub fn deliver(&self, user: &str, paths: &[&Path]) {
        let mut args = vec![
            OsStr::new("deliver"),
            self.dir.as_os_str(),
            OsStr::new(user),
        ];
        args.extend(paths.iter().map(|p| p.as_os_str()));
        run_mailrig(&args);
    }

    fn mailrig(&self, args: &[&str]) {
        let mut all: Vec<&OsStr> = vec![OsStr::new(args[0]), self.dir.as_os_str()];
        all.extend(args[1..].iter().map(OsStr::new));
        run_mailrig(&all);
    }
}

/// A rig of one's own, for tests that stop or restart a server (on the shared rig that would
/// break every test running beside them): started in a fresh folder, stopped when dropped.
pub struct PrivateRig {
    rig: Rig,
    _dir: tempfile::TempDir,
}

impl PrivateRig {
    pub fn start() -> PrivateRig {
        // Short and under /tmp: Dovecot's socket paths must stay short, and its users must
        // be able to enter the folder.
        let dir = tempfile::Builder::new()
            .prefix("rig")
            .tempdir_in("/tmp")
            .expect("a temporary folder");
        run_mailrig(&[OsStr::new("start"), dir.path().as_os_str()]);
        let file = dir.path().join("rig.env");
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let rig = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        PrivateRig { rig, _dir: dir }
    }
}

impl std::ops::Deref for PrivateRig {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.rig
    }
}

impl Drop for PrivateRig {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds.
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailrig");
        let _ = Command::new(script).arg("stop").arg(&self.rig.dir).output();
    }
}

fn run_mailrig(args: &[&OsStr]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailrig");
    let out = Command::new(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/mailrig {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls the selected mailbox until a message with this Message-ID is there; its UID, or
/// `None` after `timeout`.
pub async fn wait_for_message_id(
    session: &mut ImapSession,
    message_id: &str,
    timeout: Duration,
) -> Option<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        // NOOP lets Dovecot see mail delivered since the last command.
        session.noop().await.expect("IMAP NOOP");
        let query = format!("HEADER Message-ID \"{message_id}\"");
        let uids = session.uid_search(&query).await.expect("IMAP UID SEARCH");
        if let Some(&uid) = uids.iter().max() {
            return Some(uid);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The raw bytes of the message with this UID in the selected mailbox (not marked \Seen).
pub async fn fetch_raw(session: &mut ImapSession, uid: u32) -> Vec<u8> {
    let fetches: Vec<_> = session
        .uid_fetch(uid.to_string(), "BODY.PEEK[]")
        .await
        .expect("IMAP UID FETCH")
        .try_collect()
        .await
        .expect("IMAP UID FETCH responses");
    fetches
        .iter()
        .find_map(|f| f.body())
        .unwrap_or_else(|| panic!("no body for UID {uid}"))
        .to_vec()
}

/// A mail from `from` to `to` with this subject and Message-ID, to give a body.
pub fn message(from: &str, to: &str, subject: &str, id: &str) -> lettre::message::MessageBuilder {
    lettre::Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .message_id(Some(id.to_owned()))
}

/// The queue ID in Postfix's answer to a sent message (`250 2.0.0 Ok: queued as 4B1F19B60FE`).
pub fn queue_id(response: &Response) -> String {
    response
        .message()
        .find_map(|l| l.split_once("queued as "))
        .map(|(_, id)| id.trim().to_string())
        .unwrap_or_else(|| panic!("no queue ID in Postfix's answer: {response:?}"))
}

/// The value of the first header `name` (any case) of a raw message, unfolded and trimmed; the
/// first is the one the last server added (Dovecot puts its Delivered-To on top).
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut value: Option<String> = None;
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((key, rest)) = line.split_once(':')
            && key.eq_ignore_ascii_case(name)
        {
            value = Some(rest.trim().to_string());
        }
    }
    value
}
