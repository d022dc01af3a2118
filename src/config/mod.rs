//! The one validated configuration, read from a TOML file and passed down explicitly. Validation
//! walks the whole file and reports every problem at once, each naming its key and the fix, so
//! an admin corrects a config in one round instead of one error at a time. The keys, their
//! types and defaults are listed once, in `keys`; `validate` reads a file into [`Config`].
//! Nothing here writes to the store: the callers seed the config's interests themselves.

use std::fmt;
use std::path::{Path, PathBuf};

mod keys;
mod validate;

/// The database used when nothing else names one.
pub const DEFAULT_DB: &str = "listbridge.db";
/// The list that imports go to when neither `--list` nor the config names one.
pub const DEFAULT_LIST: &str = "main";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub store: StoreConfig,
    pub threading: ThreadingConfig,
    pub attachments: AttachmentsConfig,
    pub lists: Vec<ListConfig>,
    pub sources: Vec<SourceConfig>,
    pub web: WebConfig,
    /// `[outbound]`: how the bridge sends mail; None when the section is absent (then nothing
    /// can be posted from the web, and sign-in links cannot be mailed).
    pub outbound: Option<OutboundConfig>,
    /// `[[interests]]`: seeds the interests; once in the database, admins edit them on the web.
    pub interests: Vec<InterestConfig>,
    pub events: EventsConfig,
    pub privacy: PrivacyConfig,
    pub moderation: ModerationConfig,
}

/// `[moderation]`: members' flags on published posts.
#[derive(Debug, Clone, PartialEq)]
pub struct ModerationConfig {
    /// `[moderation] hide_after_flags`: a post flagged by this many members is hidden until a
    /// moderator decides (0: flags never hide a post by themselves).
    pub hide_after_flags: u32,
}

/// `[privacy]`: what holds a post for a moderator before it is published, and what erasing an
/// account or purging a message does to the archived mail.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// `[privacy] hold_patterns`: regular expressions of patient identifiers beyond NHS
    /// numbers (which are always held), such as a hospital's record numbers.
    pub hold_patterns: Vec<String>,
    /// `[privacy] erasure`: "redact" (the default: an erased member's messages stay in their
    /// threads as short notices under a pseudonym; a purged message as a notice) or "remove"
    /// (they go entirely).
    pub erasure: crate::store::ErasurePolicy,
    /// The screen of `hold_patterns`, compiled once by the validator.
    screen: crate::mail::privacy::Screen,
}

impl PartialEq for PrivacyConfig {
    fn eq(&self, other: &Self) -> bool {
        // The screen follows from the patterns.
        self.hold_patterns == other.hold_patterns && self.erasure == other.erasure
    }
}

/// `[events]`: announcements with registration.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsConfig {
    /// `[events] time_zone`: the zone events created on the web are written in (IANA name).
    pub time_zone: String,
    /// `[events] reminder_hours`: how long before an event its confirmed members are reminded
    /// (0: no reminders).
    pub reminder_hours: u32,
    /// `[events] organisers`: who may announce events on the web: "moderators" (moderators and
    /// admins) or "members" (any signed-in member).
    pub organisers: Organisers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Organisers {
    Moderators,
    Members,
}

/// `[[interests]]`: an interest and the rules that tag threads with it.
#[derive(Debug, Clone, PartialEq)]
pub struct InterestConfig {
    /// Its slug, name, keywords (any of them tags a thread) and patterns (for the rare case
    /// keywords cannot say).
    pub rules: crate::tags::InterestRules,
    pub description: Option<String>,
}

impl InterestConfig {
    /// The interest as the store creates it.
    pub fn as_new(&self) -> crate::store::NewInterest<'_> {
        crate::store::NewInterest {
            rules: &self.rules,
            description: self.description.as_deref(),
        }
    }
}

/// `[outbound]`: the SMTP server the outbox hands mail to, and the bridge's own addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundConfig {
    /// The SMTP server; it is logged in to (SMTP AUTH) only when the config gives a user.
    pub server: MailServer<Option<Login>>,
    /// The bridge's own address: From "Jane Doe via SITE" <from_address>, and notices.
    pub from_address: String,
    /// Host mode: each member's copy asks for replies at this address; `{key}` is replaced by a
    /// key that proves who replies to what.
    pub reply_address: String,
    /// The envelope sender of outgoing mail; `{recipient}` becomes the recipient (VERP), so a
    /// bounce tells which address failed.
    pub bounce_address: String,
    /// How long a reply key stays valid, in days.
    pub reply_key_days: u32,
    /// Hard bounces after which delivery to an address is paused.
    pub hard_bounce_limit: u32,
    /// Inbound mail larger than this is refused (host mode).
    pub max_message_mb: u32,
    /// A post to a mirrored list that may have reached it (the bridge stopped, or the
    /// connection failed, after its bytes went and before the server's answer was recorded)
    /// waits this many seconds for the list's copy before it is sent again.
    pub echo_wait_seconds: u32,
}

impl OutboundConfig {
    /// The domain of the bridge's address: our Message-IDs end in it.
    pub fn domain(&self) -> &str {
        self.from_address
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d)
    }
}

/// How the bridge relates to a list (DESIGN.md, "two operating modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListMode {
    /// The legacy list keeps running; web posts are mailed to it and come back over IMAP.
    #[default]
    Mirror,
    /// The bridge is the list: it fans posts out to members and accepts their replies.
    Host,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    /// `[web] listen`: the address `serve` answers HTTP on.
    pub listen: std::net::SocketAddr,
    /// `[web] site_name`: the forum's name in page titles and feeds.
    pub site_name: String,
    /// `[web] base_url`: the forum's public address, for links in mail (sign-in links,
    /// permalinks). Cookies are marked Secure when it is https.
    pub base_url: String,
    /// `[web] hide_addresses`: readers not signed in see no email address anywhere (author
    /// links by name, addresses in mail text masked, raw mail downloads for members only).
    pub hide_addresses: bool,
    /// `[web] client_address_header`: behind a reverse proxy, the header naming the client
    /// (its last address, the one the proxy added), for per-client rate limits; None: the
    /// connection's own address.
    pub client_address_header: Option<String>,
    /// `[web] cache_mb`: what the server's caches of drawn pages, search pages and messages
    /// may hold together, in megabytes.
    pub cache_mb: u32,
}

/// `[[sources]]`: an IMAP mailbox the daemon keeps the archive in step with.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    pub name: String,
    /// The list its mail belongs to.
    pub list: String,
    pub server: MailServer<Login>,
    pub mailbox: String,
    /// How often to look for new mail when the server offers no IDLE.
    pub poll_seconds: u32,
    /// Delete each message from the mailbox once it is safely archived (default: never touch it).
    pub delete_after_import: bool,
}

/// How to reach a mail server: the SMTP server of `[outbound]` or the IMAP server of a
/// `[[sources]]` mailbox. The login `L` is a [`Login`] where one is required (IMAP), and an
/// `Option<Login>` where the server may take mail without one (SMTP).
#[derive(Debug, Clone, PartialEq)]
pub struct MailServer<L> {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub login: L,
    /// A CA certificate (PEM) to trust besides the public ones, for a private mail server.
    pub ca_file: Option<PathBuf>,
}

/// The user and password a mail server is logged in to with.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub user: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (port 993).
    Implicit,
    /// STARTTLS on the plain port (143); the connection fails if the server does not offer it.
    StartTls,
    /// No TLS: allowed only to a loopback address.
    Plain,
}

/// A password: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `[store] path`: the SQLite database.
    pub path: PathBuf,
    /// `[store] url`: a PostgreSQL database instead (`postgres://...`).
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThreadingConfig {
    /// `[threading] subject_fallback`
    pub subject_fallback: bool,
    /// `[threading] subject_window_days`
    pub subject_window_days: u32,
}

#[derive(Debug, Clone)]
pub struct ListConfig {
    /// `[[lists]] name`: short name used by `--list` and in URLs.
    pub name: String,
    /// `[[lists]] address`: the list's posting address.
    pub address: Option<String>,
    /// `[[lists]] description`
    pub description: Option<String>,
    /// `[[lists]] subject_tag`: the legacy list's tag in subjects (`[SNUG]`), hidden in titles.
    pub subject_tag: Option<String>,
    /// `[[lists]] footer_patterns`: regexes for the first line of the legacy list's footer.
    pub footer_patterns: Vec<regex::Regex>,
    /// `[[lists]] mode`: mirror (default) or host.
    pub mode: ListMode,
    /// `[[lists]] unknown_senders`: in host mode, what happens to a post from an address no
    /// member has: refused with an explanation (default), or held for a moderator.
    pub hold_unknown_senders: bool,
    /// `[[lists]] posts_per_hour`: in host mode, the most posts taken from one address in an
    /// hour (0: no limit); more are refused with an explanation.
    pub posts_per_hour: u32,
    /// `[[lists]] private`: only signed-in members of the list (its roster, `listbridge members
    /// import --list`) and moderators see anything of it, on every page, feed and API answer.
    pub private: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentsConfig {
    /// `[attachments] max_size_mb`: larger attachments are listed but not served.
    pub max_size_mb: u32,
}

impl PartialEq for ListConfig {
    fn eq(&self, other: &Self) -> bool {
        let patterns = |l: &ListConfig| {
            l.footer_patterns
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        self.name == other.name
            && self.address == other.address
            && self.description == other.description
            && self.subject_tag == other.subject_tag
            && self.mode == other.mode
            && self.hold_unknown_senders == other.hold_unknown_senders
            && self.posts_per_hour == other.posts_per_hour
            && self.private == other.private
            && patterns(self) == patterns(other)
    }
}

impl Default for Config {
    /// The configuration of an empty file: the defaults of the key table.
    fn default() -> Self {
        Config::parse("").expect("the key table's defaults are valid")
    }
}

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, as a dotted path (`threading.subject_window_days`, `lists[1].name`).
    pub key: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; fix: {}", self.key, self.problem, self.fix)
    }
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} has {} problem{}:",
            self.file.display(),
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl Config {
    /// The names of the private lists.
    pub fn private_lists(&self) -> Vec<String> {
        self.lists
            .iter()
            .filter(|l| l.private)
            .map(|l| l.name.clone())
            .collect()
    }

    /// What holds a post for a moderator (NHS numbers, and the configured patterns), compiled
    /// once when the config was validated.
    pub fn privacy_screen(&self) -> &crate::mail::privacy::Screen {
        &self.privacy.screen
    }

    /// Reads and validates a config file.
    pub fn load(file: &Path) -> Result<Config, ConfigErrors> {
        let fail = |key: &str, problem: String, fix: &str| ConfigErrors {
            file: file.to_owned(),
            problems: vec![ConfigProblem {
                key: key.to_owned(),
                problem,
                fix: fix.to_owned(),
            }],
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            fail(
                "(file)",
                format!("cannot be read: {e}"),
                "check the path given to --config or LISTBRIDGE_CONFIG",
            )
        })?;
        Config::parse(&text).map_err(|problems| ConfigErrors {
            file: file.to_owned(),
            problems,
        })
    }

    /// Parses and validates config text, collecting every problem.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigProblem>> {
        validate::parse(text)
    }

    /// What the store derives by: threading rules and the attachment size limit.
    /// The configured interests, as the store seeds them.
    pub fn new_interests(&self) -> Vec<crate::store::NewInterest<'_>> {
        self.interests.iter().map(InterestConfig::as_new).collect()
    }

    pub fn derive_settings(&self) -> crate::store::DeriveSettings {
        crate::store::DeriveSettings {
            subject_fallback: self.threading.subject_fallback,
            subject_window_secs: i64::from(self.threading.subject_window_days) * 86_400,
            max_attachment_bytes: u64::from(self.attachments.max_size_mb) << 20,
        }
    }

    /// How a list's mail is rendered: its subject tag and footer patterns.
    pub fn render_options(&self, list: &str) -> crate::mail::render::RenderOptions {
        let configured = self.lists.iter().find(|l| l.name == list);
        crate::mail::render::RenderOptions {
            trim: crate::mail::trim::TrimOptions {
                footer_patterns: configured
                    .map(|l| l.footer_patterns.clone())
                    .unwrap_or_default(),
            },
            subject_tag: configured.and_then(|l| l.subject_tag.clone()),
            allow_remote_images: false,
            // Posts written on the web carry light formatting, shown as such.
            own_domain: self.outbound.as_ref().map(|o| o.domain().to_owned()),
        }
    }

    /// The list an import goes to: the one named, else the first configured, else `main`.
    /// A name the config does not know is refused when lists are configured.
    pub fn import_list(&self, named: Option<&str>) -> Result<String, String> {
        match named {
            Some(name) if self.lists.is_empty() || self.lists.iter().any(|l| l.name == name) => {
                if valid_list_name(name) {
                    Ok(name.to_owned())
                } else {
                    Err(format!(
                        "{name:?} is not a usable list name: use lowercase letters, digits, '-' or '_'"
                    ))
                }
            }
            Some(name) => Err(format!(
                "no list named {name:?} in the config's [[lists]] (known: {}); add it there or pick one of those",
                self.lists
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => Ok(self
                .lists
                .first()
                .map_or(DEFAULT_LIST.to_owned(), |l| l.name.clone())),
        }
    }
}

fn valid_list_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems of config `text`, after checking that one is reported under each of `keys`.
    fn problems_under(text: &str, keys: &[&str]) -> Vec<ConfigProblem> {
        let problems = Config::parse(text).unwrap_err();
        let reported: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for key in keys {
            assert!(
                reported.contains(key),
                "no problem reported for {key}: {problems:#?}"
            );
        }
        problems
    }

    #[test]
    fn an_empty_config_gives_the_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config, Config::default());
        // The defaults config.toml.example promises.
        assert_eq!(config.store.path, PathBuf::from(DEFAULT_DB));
        assert!(config.threading.subject_fallback);
        assert_eq!(config.threading.subject_window_days, 30);
        assert_eq!(config.attachments.max_size_mb, 25);
        assert!(config.lists.is_empty() && config.sources.is_empty());
        assert!(config.interests.is_empty() && config.outbound.is_none());
        assert_eq!(config.web.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.web.site_name, "listbridge");
        assert_eq!(config.web.base_url, "http://127.0.0.1:8080");
        assert!(config.web.hide_addresses);
        assert_eq!(config.events.time_zone, "Europe/London");
        assert_eq!(config.events.reminder_hours, 24);
        assert_eq!(config.events.organisers, Organisers::Moderators);
        assert!(config.privacy.hold_patterns.is_empty());
        assert_eq!(config.moderation.hide_after_flags, 3);
        let with_lists = Config::parse("[[lists]]\nname = \"a\"\n[[sources]]\nname = \"s\"\nlist = \"a\"\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\n").unwrap();
        let (list, source) = (&with_lists.lists[0], &with_lists.sources[0]);
        assert_eq!(
            (
                list.mode,
                list.hold_unknown_senders,
                list.posts_per_hour,
                list.private
            ),
            (ListMode::Mirror, false, 30, false)
        );
        assert_eq!(
            (
                source.server.port,
                source.server.tls,
                source.mailbox.as_str(),
                source.poll_seconds
            ),
            (993, TlsMode::Implicit, "INBOX", 60)
        );
        assert!(!source.delete_after_import);
    }

    #[test]
    fn the_privacy_screen_holds_the_configured_patterns() {
        let config =
            Config::parse("[privacy]\nhold_patterns = [\"MRN ?[0-9]{7}\"]\n").expect("valid");
        assert!(config.privacy_screen().check("", "MRN 1234567").is_some());
        assert!(config.privacy_screen().check("", "nothing here").is_none());
        // NHS numbers are held without any pattern configured.
        assert!(
            Config::default()
                .privacy_screen()
                .check("", "943 476 5919")
                .is_some()
        );
    }

    #[test]
    fn reports_every_problem_at_once_with_key_and_fix() {
        let text = r#"
            colour = "blue"
            [store]
            path = 5
            [threading]
            subject_fallback = "yes"
            subject_window_days = -1
            [[lists]]
            address = "not an address"
            [[lists]]
            name = "Bad Name"
            footer_patterns = ["(unclosed"]
        "#;
        let problems = problems_under(
            text,
            &[
                "colour",
                "store.path",
                "threading.subject_fallback",
                "threading.subject_window_days",
                "lists[0].address",
                "lists[0].name",
                "lists[1].name",
                "lists[1].footer_patterns[0]",
            ],
        );
        assert!(problems.iter().all(|p| !p.fix.is_empty()));
    }

    #[test]
    fn syntax_errors_say_where() {
        let problems = Config::parse("[store\npath = 1").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].problem.contains("line 1"), "{}", problems[0]);
    }

    #[test]
    fn validates_imap_sources_and_hides_passwords() {
        let ok = Config::parse(
            "[[lists]]\nname = \"snug\"\n[[sources]]\nname = \"inbox\"\nlist = \"snug\"\nhost = \"127.0.0.1\"\n\
             port = 1143\ntls = \"plain\"\nuser = \"list@lists.test\"\npassword = \"hunter2\"\n",
        )
        .unwrap();
        let source = &ok.sources[0];
        assert_eq!(
            (
                source.server.port,
                source.server.tls,
                source.mailbox.as_str()
            ),
            (1143, TlsMode::Plain, "INBOX")
        );
        assert_eq!(source.server.login.password.expose(), "hunter2");
        assert!(
            !format!("{ok:?}").contains("hunter2"),
            "a password must never be printed"
        );

        let problems = problems_under(
            "[[lists]]\nname = \"snug\"\n[[sources]]\nname = \"x\"\nlist = \"other\"\nhost = \"imap.example.org\"\n\
             tls = \"plain\"\nuser = \"u\"\npassword = \"p\"\npassword_env = \"LISTBRIDGE_TEST_UNSET_VAR\"\nport = 0\n\
             [[sources]]\nname = \"y\"\nhost = \"h\"\nuser = \"u\"\npassword_env = \"LISTBRIDGE_TEST_UNSET_VAR\"\n",
            &[
                "sources[0].tls",
                "sources[0].password_env",
                "sources[0].port",
                "sources[1].password_env",
            ],
        );
        assert!(problems.iter().all(|p| !p.to_string().contains("\"p\"")));
    }

    #[test]
    fn chooses_the_import_list() {
        let none = Config::default();
        assert_eq!(none.import_list(None).unwrap(), "main");
        assert_eq!(none.import_list(Some("snug")).unwrap(), "snug");
        assert!(none.import_list(Some("Bad Name")).is_err());
        let some =
            Config::parse("[[lists]]\nname = \"snug\"\n[[lists]]\nname = \"events\"").unwrap();
        assert_eq!(some.import_list(None).unwrap(), "snug");
        assert_eq!(some.import_list(Some("events")).unwrap(), "events");
        assert!(
            some.import_list(Some("other"))
                .unwrap_err()
                .contains("[[lists]]")
        );
    }

    #[test]
    fn the_example_config_is_complete_and_valid() {
        let text = include_str!("../../config.toml.example");
        let config = Config::parse(text).unwrap_or_else(|p| panic!("config.toml.example: {p:?}"));
        assert!(!config.lists.is_empty(), "the example shows a list");
        // Every key of the key table appears in the example, uncommented.
        // Alternatives (password_env, password_file) and paths that must exist (ca_file) may
        // be shown commented out.
        let shown = |key: &str| {
            text.lines().any(|l| {
                l.trim_start()
                    .trim_start_matches('#')
                    .trim_start()
                    .starts_with(key)
            })
        };
        // Each key in (one of) its own section's blocks of the example.
        let mut section = "";
        let mut shown_in = std::collections::HashSet::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.trim_matches(['[', ']']);
            } else if let Some((key, _)) = line.trim_start_matches(['#', ' ']).split_once(" =") {
                shown_in.insert((section, key));
            }
        }
        for key in keys::KEYS {
            assert!(
                shown_in.contains(&(key.section, key.name)),
                "config.toml.example does not show {}.{}",
                key.section,
                key.name
            );
        }
        for section in keys::SECTIONS {
            let header = match section.item {
                Some(_) => format!("[[{}]]", section.name),
                None => format!("[{}]", section.name),
            };
            assert!(
                text.lines().any(|l| l.trim() == header),
                "config.toml.example does not show {header}"
            );
        }
        let outbound = config.outbound.expect("the example shows [outbound]");
        assert_eq!(outbound.domain(), "lists.example.org");
        assert_eq!(config.lists[0].mode, ListMode::Mirror);
        for key in [
            "[store]",
            "path =",
            "[threading]",
            "subject_fallback =",
            "subject_window_days =",
            "[[lists]]",
            "name =",
            "address =",
            "description =",
            "subject_tag =",
            "footer_patterns =",
            "[attachments]",
            "max_size_mb =",
            "[web]",
            "listen =",
            "site_name =",
            "base_url =",
            "mode =",
            "unknown_senders =",
            "posts_per_hour =",
            "private =",
            "hide_addresses =",
            "[outbound]",
            "[[sources]]",
            "[[interests]]",
            "[events]",
            "time_zone =",
            "reminder_hours =",
            "organisers =",
            "[privacy]",
            "hold_patterns =",
            "erasure =",
            "[moderation]",
            "hide_after_flags =",
        ] {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(key)),
                "config.toml.example does not show {key}"
            );
        }
        assert!(shown("name ="));
    }

    #[test]
    fn flags_hide_after_a_number_of_members() {
        assert_eq!(Config::parse("").unwrap().moderation.hide_after_flags, 3);
        let config = Config::parse("[moderation]\nhide_after_flags = 0\n").expect("valid");
        assert_eq!(config.moderation.hide_after_flags, 0);
        let problems =
            Config::parse("[moderation]\nhide_after_flags = -1\nhide = 2\n").unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["moderation.hide", "moderation.hide_after_flags"],
            "{problems:?}"
        );
    }

    #[test]
    fn privacy_patterns_must_compile() {
        let config =
            Config::parse("[privacy]\nhold_patterns = [\"MRN ?[0-9]{7}\"]\n").expect("valid");
        assert_eq!(
            config.privacy.hold_patterns,
            vec!["MRN ?[0-9]{7}".to_owned()]
        );
        let problems = Config::parse("[privacy]\nhold_patterns = [\"MRN (\"]\n").unwrap_err();
        assert_eq!(problems.first().unwrap().key, "privacy.hold_patterns[0]");
    }

    #[test]
    fn a_client_address_header_is_a_header_name() {
        assert_eq!(Config::default().web.client_address_header, None);
        let config = Config::parse("[web]\nclient_address_header = \"X-Forwarded-For\"\n").unwrap();
        assert_eq!(
            config.web.client_address_header.as_deref(),
            Some("x-forwarded-for")
        );
        let problems =
            Config::parse("[web]\nclient_address_header = \"X Forwarded\"\n").unwrap_err();
        assert_eq!(problems.first().unwrap().key, "web.client_address_header");
    }

    #[test]
    fn erasure_policy_defaults_to_redact_and_a_bad_one_is_named() {
        use crate::store::ErasurePolicy;
        assert_eq!(Config::default().privacy.erasure, ErasurePolicy::Redact);
        assert_eq!(
            Config::parse("[privacy]\nerasure = \"remove\"\n")
                .unwrap()
                .privacy
                .erasure,
            ErasurePolicy::Remove
        );
        for bad in ["\"delete\"", "true"] {
            let problems = Config::parse(&format!("[privacy]\nerasure = {bad}\n")).unwrap_err();
            let first = problems.first().unwrap();
            assert_eq!(first.key, "privacy.erasure", "{bad}");
            assert!(first.to_string().contains("\"redact\""), "{first}");
        }
    }

    #[test]
    fn events_settings_are_checked_and_named() {
        let config = Config::parse(
            "[events]\ntime_zone = \"America/New_York\"\nreminder_hours = 2\norganisers = \"members\"\n",
        )
        .expect("valid");
        assert_eq!(config.events.time_zone, "America/New_York");
        assert_eq!(config.events.reminder_hours, 2);
        assert_eq!(config.events.organisers, Organisers::Members);
        let problems = Config::parse(
            "[events]\ntime_zone = \"Mars/Olympus\"\nreminder_hours = -1\norganisers = \"everyone\"\n",
        )
        .unwrap_err()
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n");
        for key in [
            "events.time_zone",
            "events.reminder_hours",
            "events.organisers",
        ] {
            assert!(problems.contains(key), "{key} not named in: {problems}");
        }
        assert!(problems.contains("IANA"), "{problems}");
    }

    #[test]
    fn outbound_defaults_follow_the_from_address_and_problems_name_their_key() {
        let config = Config::parse(
            "[outbound]\nfrom_address = \"forum@lists.test\"\n[[lists]]\nname = \"snug\"\naddress = \"snug@lists.test\"\nmode = \"host\"\n",
        )
        .unwrap();
        let outbound = config.outbound.unwrap();
        assert_eq!(outbound.server.host, "127.0.0.1");
        assert_eq!(
            (outbound.server.port, outbound.server.tls),
            (25, TlsMode::Plain)
        );
        assert_eq!(outbound.reply_address, "reply+{key}@lists.test");
        assert_eq!(outbound.bounce_address, "bounces+{recipient}@lists.test");
        assert_eq!(config.lists[0].mode, ListMode::Host);
        assert_eq!(config.web.base_url, "http://127.0.0.1:8080");

        problems_under(
            "[outbound]\nhost = \"smtp.example.org\"\ntls = \"plain\"\nreply_address = \"reply@x.org\"\nuser = \"u\"\n[[lists]]\nname = \"a\"\nmode = \"host\"\n[[lists]]\nname = \"b\"\nmode = \"hosted\"\n",
            &[
                "outbound.tls",
                "outbound.reply_address",
                "outbound.password",
                "outbound.from_address",
                "lists[0].address",
                "lists[1].mode",
            ],
        );
        let problems =
            Config::parse("[[lists]]\nname = \"a\"\naddress = \"a@b.c\"\nmode = \"host\"\n")
                .unwrap_err();
        assert_eq!(problems[0].key, "lists[0].mode", "{problems:#?}");
    }

    #[test]
    fn problems_name_the_item_and_index_they_are_in() {
        problems_under(
            "[[lists]]\nname = \"a\"\n[[sources]]\nname = \"s\"\nhost = \"h\"\nuser = \"u\"\n\
             [[sources]]\nname = \"t\"\nlist = \"zz\"\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\n\
             [[interests]]\nslug = \"d\"\nname = \"D\"\npatterns = [2, \"(\"]\n\
             [[interests]]\nslug = \"e\"\nname = \"E\"\nkeywords = [\"e\"]\npassword = 1\n",
            &[
                "sources[0].password",
                "sources[1].list",
                "interests[0].patterns[0]",
                "interests[0].patterns[1]",
                "interests[1].password",
            ],
        );
        let problems = Config::parse(
            "[outbound]\nfrom_address = \"f@x.org\"\nuser = \"u\"\npassword = \"p\"\npassword_file = 5\n",
        )
        .unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.key == "outbound.password_file" && p.problem.contains("together")),
            "{problems:#?}"
        );
    }
}
