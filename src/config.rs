//! The one validated configuration, read from a TOML file and passed down explicitly. Validation
//! walks the whole file and reports every problem at once, each naming its key and the fix, so
//! an admin corrects a config in one round instead of one error at a time.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

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

impl Default for ModerationConfig {
    fn default() -> Self {
        ModerationConfig {
            hide_after_flags: 3,
        }
    }
}

/// `[privacy]`: what holds a post for a moderator before it is published, and what erasing an
/// account or purging a message does to the archived mail.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrivacyConfig {
    /// `[privacy] hold_patterns`: regular expressions of patient identifiers beyond NHS
    /// numbers (which are always held), such as a hospital's record numbers.
    pub hold_patterns: Vec<String>,
    /// `[privacy] erasure`: "redact" (the default: an erased member's messages stay in their
    /// threads as short notices under a pseudonym; a purged message as a notice) or "remove"
    /// (they go entirely).
    pub erasure: crate::store::ErasurePolicy,
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
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    /// Words and phrases, synonyms and abbreviations; any of them tags a thread.
    pub keywords: Vec<String>,
    /// Regular expressions, for the rare case keywords cannot say.
    pub patterns: Vec<String>,
}

impl InterestConfig {
    pub fn rules(&self) -> crate::tags::InterestRules {
        crate::tags::InterestRules {
            slug: self.slug.clone(),
            name: self.name.clone(),
            keywords: self.keywords.clone(),
            patterns: self.patterns.clone(),
        }
    }
}

/// `[outbound]`: the SMTP server the outbox hands mail to, and the bridge's own addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// SMTP AUTH, when the server wants it.
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
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
}

/// `[[sources]]`: an IMAP mailbox the daemon keeps the archive in step with.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    pub name: String,
    /// The list its mail belongs to.
    pub list: String,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub user: String,
    pub password: Secret,
    pub mailbox: String,
    /// A CA certificate (PEM) to trust besides the public ones, for a private mail server.
    pub ca_file: Option<PathBuf>,
    /// How often to look for new mail when the server offers no IDLE.
    pub poll_seconds: u32,
    /// Delete each message from the mailbox once it is safely archived (default: never touch it).
    pub delete_after_import: bool,
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
    fn default() -> Self {
        Config {
            store: StoreConfig {
                path: PathBuf::from(DEFAULT_DB),
            },
            threading: ThreadingConfig {
                subject_fallback: true,
                subject_window_days: 30,
            },
            attachments: AttachmentsConfig { max_size_mb: 25 },
            lists: Vec::new(),
            sources: Vec::new(),
            web: WebConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
                site_name: "listbridge".to_owned(),
                base_url: "http://127.0.0.1:8080".to_owned(),
                hide_addresses: true,
            },
            outbound: None,
            interests: Vec::new(),
            events: EventsConfig {
                time_zone: "Europe/London".to_owned(),
                reminder_hours: 24,
                organisers: Organisers::Moderators,
            },
            privacy: PrivacyConfig::default(),
            moderation: ModerationConfig::default(),
        }
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

    /// What holds a post for a moderator (NHS numbers, and the configured patterns, which
    /// the validator has compiled already).
    pub fn privacy_screen(&self) -> crate::mail::privacy::Screen {
        crate::mail::privacy::Screen::new(&self.privacy.hold_patterns)
            .or_else(|_| crate::mail::privacy::Screen::new(&[]))
            .expect("the built-in NHS number pattern compiles")
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
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            vec![ConfigProblem {
                key: "(syntax)".to_owned(),
                problem: e.message().to_owned()
                    + &e.span()
                        .map(|s| format!(" (at line {})", line_of(text, s.start)))
                        .unwrap_or_default(),
                fix: "correct the TOML syntax; config.toml.example shows every key".to_owned(),
            }]
        })?;
        let mut v = Validator::default();
        let mut config = Config::default();

        for (key, value) in &table {
            match key.as_str() {
                "store" => {
                    if let Some(t) = v.table("store", value) {
                        for (k, val) in t {
                            let path = format!("store.{k}");
                            match k.as_str() {
                                "path" => {
                                    if let Some(s) = v.string(
                                        &path,
                                        val,
                                        "a file path such as \"/var/lib/listbridge/archive.db\"",
                                    ) {
                                        config.store.path = PathBuf::from(s);
                                    }
                                }
                                _ => v.unknown(&path, &["path"]),
                            }
                        }
                    }
                }
                "threading" => {
                    if let Some(t) = v.table("threading", value) {
                        for (k, val) in t {
                            let path = format!("threading.{k}");
                            match k.as_str() {
                                "subject_fallback" => {
                                    if let Some(b) = v.boolean(&path, val) {
                                        config.threading.subject_fallback = b;
                                    }
                                }
                                "subject_window_days" => {
                                    if let Some(n) = v.integer(
                                        &path,
                                        val,
                                        0,
                                        3650,
                                        "a number of days such as 30",
                                    ) {
                                        config.threading.subject_window_days = n as u32;
                                    }
                                }
                                _ => v.unknown(&path, &["subject_fallback", "subject_window_days"]),
                            }
                        }
                    }
                }
                "web" => {
                    if let Some(t) = v.table("web", value) {
                        for (k, val) in t {
                            let path = format!("web.{k}");
                            match k.as_str() {
                                "listen" => {
                                    if let Some(s) = v.string(
                                        &path,
                                        val,
                                        "an address and port such as \"127.0.0.1:8080\"",
                                    ) {
                                        match s.parse() {
                                            Ok(addr) => config.web.listen = addr,
                                            Err(_) => v.problem(
                                                &path,
                                                format!("{s:?} is not an address and port"),
                                                "write it as \"127.0.0.1:8080\" or \"[::1]:8080\"",
                                            ),
                                        }
                                    }
                                }
                                "site_name" => {
                                    if let Some(s) =
                                        v.string(&path, val, "a name such as \"SNUG forum\"")
                                    {
                                        if s.trim().is_empty() {
                                            v.problem(
                                                &path,
                                                "is empty".to_owned(),
                                                "give the forum a name, such as \"SNUG forum\"",
                                            );
                                        } else {
                                            config.web.site_name = s.trim().to_owned();
                                        }
                                    }
                                }
                                "base_url" => {
                                    if let Some(s) = v.string(
                                        &path,
                                        val,
                                        "the forum's public address such as \"https://forum.example.org\"",
                                    ) {
                                        let s = s.trim().trim_end_matches('/');
                                        if (s.starts_with("http://") || s.starts_with("https://"))
                                            && !s.contains(char::is_whitespace)
                                        {
                                            config.web.base_url = s.to_owned();
                                        } else {
                                            v.problem(
                                                &path,
                                                format!("{s:?} is not an http(s) address"),
                                                "write the address readers use, such as \"https://forum.example.org\"",
                                            );
                                        }
                                    }
                                }
                                "hide_addresses" => {
                                    if let Some(b) = v.boolean(&path, val) {
                                        config.web.hide_addresses = b;
                                    }
                                }
                                _ => v.unknown(
                                    &path,
                                    &["listen", "site_name", "base_url", "hide_addresses"],
                                ),
                            }
                        }
                    }
                }
                "privacy" => {
                    if let Some(t) = v.table("privacy", value) {
                        for (k, val) in t {
                            let path = format!("privacy.{k}");
                            match k.as_str() {
                                "hold_patterns" => {
                                    let Some(items) = val.as_array() else {
                                        v.problem(
                                            &path,
                                            format!("is {}, not a list", kind(val)),
                                            "write a list of regular expressions, such as [\"(?i)\\\\bMRN:? ?[0-9]{7}\\\\b\"]",
                                        );
                                        continue;
                                    };
                                    for (i, item) in items.iter().enumerate() {
                                        let at = format!("{path}[{i}]");
                                        if let Some(p) = v.string(&at, item, "a regular expression")
                                        {
                                            match regex::Regex::new(p) {
                                                Ok(_) => config.privacy.hold_patterns.push(p.to_owned()),
                                                Err(e) => v.problem(
                                                    &at,
                                                    format!("is not a valid regular expression: {e}"),
                                                    "correct the pattern (Rust regex syntax; escape backslashes as \\\\ in TOML strings)",
                                                ),
                                            }
                                        }
                                    }
                                }
                                "erasure" => {
                                    if let Some(s) =
                                        v.string(&path, val, "\"redact\" or \"remove\"")
                                    {
                                        match crate::store::ErasurePolicy::parse(s) {
                                            Some(policy) => config.privacy.erasure = policy,
                                            None => v.problem(
                                                &path,
                                                format!("{s:?} is not a choice here"),
                                                "write \"redact\" (erased messages stay in their threads as a short notice, without text, attachments or author) or \"remove\" (they go entirely)",
                                            ),
                                        }
                                    }
                                }
                                _ => v.unknown(&path, &["hold_patterns", "erasure"]),
                            }
                        }
                    }
                }
                "moderation" => {
                    if let Some(t) = v.table("moderation", value) {
                        for (k, val) in t {
                            let path = format!("moderation.{k}");
                            match k.as_str() {
                                "hide_after_flags" => {
                                    if let Some(n) = v.integer(
                                        &path,
                                        val,
                                        0,
                                        1000,
                                        "a number of members such as 3 (0: never)",
                                    ) {
                                        config.moderation.hide_after_flags = n as u32;
                                    }
                                }
                                _ => v.unknown(&path, &["hide_after_flags"]),
                            }
                        }
                    }
                }
                "events" => {
                    if let Some(t) = v.table("events", value) {
                        for (k, val) in t {
                            let path = format!("events.{k}");
                            match k.as_str() {
                                "time_zone" => {
                                    if let Some(s) = v.string(
                                        &path,
                                        val,
                                        "a zone name such as \"Europe/London\"",
                                    ) {
                                        match s.trim().parse::<chrono_tz::Tz>() {
                                            Ok(tz) => config.events.time_zone = tz.name().to_owned(),
                                            Err(_) => v.problem(
                                                &path,
                                                format!("{s:?} is not a known time zone"),
                                                "use an IANA zone name such as \"Europe/London\" or \"UTC\"",
                                            ),
                                        }
                                    }
                                }
                                "reminder_hours" => {
                                    if let Some(n) = v.integer(
                                        &path,
                                        val,
                                        0,
                                        24 * 14,
                                        "a number of hours such as 24",
                                    ) {
                                        config.events.reminder_hours = n as u32;
                                    }
                                }
                                "organisers" => {
                                    if let Some(s) =
                                        v.string(&path, val, "\"moderators\" or \"members\"")
                                    {
                                        match s {
                                            "moderators" => {
                                                config.events.organisers = Organisers::Moderators
                                            }
                                            "members" => config.events.organisers = Organisers::Members,
                                            _ => v.problem(
                                                &path,
                                                format!("{s:?} is not a choice here"),
                                                "write \"moderators\" (moderators and admins announce events) or \"members\" (any member)",
                                            ),
                                        }
                                    }
                                }
                                _ => {
                                    v.unknown(&path, &["time_zone", "reminder_hours", "organisers"])
                                }
                            }
                        }
                    }
                }
                "outbound" => {
                    if let Some(t) = v.table("outbound", value) {
                        config.outbound = parse_outbound(&mut v, t);
                    }
                }
                "attachments" => {
                    if let Some(t) = v.table("attachments", value) {
                        for (k, val) in t {
                            let path = format!("attachments.{k}");
                            match k.as_str() {
                                "max_size_mb" => {
                                    if let Some(n) = v.integer(
                                        &path,
                                        val,
                                        1,
                                        1024,
                                        "a size in megabytes such as 25",
                                    ) {
                                        config.attachments.max_size_mb = n as u32;
                                    }
                                }
                                _ => v.unknown(&path, &["max_size_mb"]),
                            }
                        }
                    }
                }
                "sources" => {
                    for (at, t) in v.sections("sources", value, "source") {
                        if let Some(source) = parse_source(&mut v, &at, t) {
                            let taken = config.sources.iter().any(|s| s.name == source.name);
                            if v.unique(&at, "name", &source.name, taken, "source") {
                                config.sources.push(source);
                            }
                        }
                    }
                }
                "interests" => {
                    for (at, t) in v.sections("interests", value, "interest") {
                        if let Some(interest) = parse_interest(&mut v, &at, t) {
                            let taken = config.interests.iter().any(|x| x.slug == interest.slug);
                            if v.unique(&at, "slug", &interest.slug, taken, "interest") {
                                config.interests.push(interest);
                            }
                        }
                    }
                }
                "lists" => {
                    for (at, t) in v.sections("lists", value, "list") {
                        let mut list = ListConfig {
                            name: String::new(),
                            address: None,
                            description: None,
                            subject_tag: None,
                            footer_patterns: Vec::new(),
                            mode: ListMode::Mirror,
                            hold_unknown_senders: false,
                            posts_per_hour: 30,
                            private: false,
                        };
                        for (k, val) in t {
                            let path = format!("{at}.{k}");
                            match k.as_str() {
                                "name" => {
                                    if let Some(s) =
                                        v.string(&path, val, "a short name such as \"snug\"")
                                    {
                                        if valid_list_name(s) {
                                            list.name = s.to_owned();
                                        } else {
                                            v.problem(&path, format!("{s:?} is not a usable list name"), "use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit");
                                        }
                                    }
                                }
                                "address" => {
                                    if let Some(s) = v.string(
                                        &path,
                                        val,
                                        "an address such as \"snug@lists.example.org\"",
                                    ) {
                                        if s.contains('@') && !s.contains(char::is_whitespace) {
                                            list.address = Some(s.to_owned());
                                        } else {
                                            v.problem(&path, format!("{s:?} is not an email address"), "write the list's posting address, such as \"snug@lists.example.org\"");
                                        }
                                    }
                                }
                                "description" => {
                                    if let Some(s) = v.string(&path, val, "a sentence") {
                                        list.description = Some(s.to_owned());
                                    }
                                }
                                "subject_tag" => {
                                    if let Some(s) = v.string(
                                        &path,
                                        val,
                                        "the tag as it appears in subjects, such as \"[SNUG]\"",
                                    ) {
                                        if s.trim().is_empty() {
                                            v.problem(&path, "is empty".to_owned(), "remove the key, or write the tag such as \"[SNUG]\"");
                                        } else {
                                            list.subject_tag = Some(s.trim().to_owned());
                                        }
                                    }
                                }
                                "footer_patterns" => {
                                    let Some(items) = val.as_array() else {
                                        v.problem(&path, format!("is {}, not a list", kind(val)), "write a list of regular expressions, such as [\"^To unsubscribe\"]");
                                        continue;
                                    };
                                    for (j, item) in items.iter().enumerate() {
                                        let at = format!("{path}[{j}]");
                                        if let Some(p) = v.string(&at, item, "a regular expression")
                                        {
                                            match regex::Regex::new(p) {
                                                Ok(r) => list.footer_patterns.push(r),
                                                Err(e) => v.problem(&at, format!("is not a valid regular expression: {}", e.to_string().lines().last().unwrap_or_default()), "correct the pattern (Rust regex syntax; escape [ ] ( ) . with a backslash)"),
                                            }
                                        }
                                    }
                                }
                                "mode" => match v.string(&path, val, "\"mirror\" or \"host\"") {
                                    Some("mirror") => list.mode = ListMode::Mirror,
                                    Some("host") => list.mode = ListMode::Host,
                                    Some(other) => v.problem(&path, format!("{other:?} is not a mode"), "use \"mirror\" (the legacy list keeps running) or \"host\" (the bridge is the list)"),
                                    None => {}
                                },
                                "posts_per_hour" => {
                                    if let Some(n) = v.integer(&path, val, 0, 100_000, "a number such as 30") {
                                        list.posts_per_hour = n as u32;
                                    }
                                }
                                "private" => {
                                    if let Some(b) = v.boolean(&path, val) {
                                        list.private = b;
                                    }
                                }
                                "unknown_senders" => match v.string(&path, val, "\"refuse\" or \"hold\"") {
                                    Some("refuse") => list.hold_unknown_senders = false,
                                    Some("hold") => list.hold_unknown_senders = true,
                                    Some(other) => v.problem(&path, format!("{other:?} is not a choice here"), "use \"refuse\" (the sender is told how to join) or \"hold\" (a moderator decides)"),
                                    None => {}
                                },
                                _ => v.unknown(
                                    &path,
                                    &[
                                        "name",
                                        "address",
                                        "description",
                                        "subject_tag",
                                        "footer_patterns",
                                        "mode",
                                        "unknown_senders",
                                        "posts_per_hour",
                                        "private",
                                    ],
                                ),
                            }
                        }
                        if !t.contains_key("name") {
                            v.problem(
                                &format!("{at}.name"),
                                "is missing".to_owned(),
                                "give every [[lists]] a name, such as name = \"snug\"",
                            );
                        } else if !list.name.is_empty() {
                            let taken = config.lists.iter().any(|l| l.name == list.name);
                            if v.unique(&at, "name", &list.name, taken, "list") {
                                config.lists.push(list);
                            }
                        }
                    }
                }
                _ => v.unknown(
                    key,
                    &[
                        "store",
                        "web",
                        "threading",
                        "attachments",
                        "outbound",
                        "lists",
                        "sources",
                        "interests",
                        "events",
                        "privacy",
                        "moderation",
                    ],
                ),
            }
        }
        if !table
            .get("web")
            .and_then(Value::as_table)
            .is_some_and(|t| t.contains_key("base_url"))
        {
            config.web.base_url = format!("http://{}", config.web.listen);
        }
        // A host-mode list is the list: it needs a posting address and a way to send.
        for (i, list) in config.lists.iter().enumerate() {
            if list.mode == ListMode::Host {
                if list.address.is_none() {
                    v.problem(
                        &format!("lists[{i}].address"),
                        "is missing for a host-mode list".to_owned(),
                        "give the address members post to, such as \"snug@lists.example.org\"",
                    );
                }
                if config.outbound.is_none() && !table.contains_key("outbound") {
                    v.problem(&format!("lists[{i}].mode"), "is \"host\" but there is no [outbound] section".to_owned(), "add an [outbound] section (config.toml.example shows one), or use mode = \"mirror\"");
                }
            }
        }
        // Sources name lists; when lists are configured, a source must name one of them.
        for (i, source) in config.sources.iter().enumerate() {
            if !config.lists.is_empty() && !config.lists.iter().any(|l| l.name == source.list) {
                v.problem(
                    &format!("sources[{i}].list"),
                    format!("names {:?}, which is not a [[lists]] name", source.list),
                    "use the name of one of the [[lists]] sections",
                );
            }
        }
        if v.problems.is_empty() {
            Ok(config)
        } else {
            Err(v.problems)
        }
    }

    /// What the store derives by: threading rules and the attachment size limit.
    pub fn derive_settings(&self) -> crate::store::DeriveSettings {
        crate::store::DeriveSettings {
            subject_fallback: self.threading.subject_fallback,
            subject_window_secs: i64::from(self.threading.subject_window_days) * 86_400,
            max_attachment_bytes: u64::from(self.attachments.max_size_mb) << 20,
        }
    }

    /// Adds the config's interests that the database lacks: the config seeds them, admins edit
    /// them on the web afterwards.
    pub fn seed_interests(
        &self,
        store: &crate::store::Store,
        now: i64,
    ) -> Result<usize, crate::store::StoreError> {
        if self.interests.is_empty() {
            return Ok(0);
        }
        let rules: Vec<_> = self.interests.iter().map(InterestConfig::rules).collect();
        store.seed_interests(
            &rules,
            &|slug| {
                self.interests
                    .iter()
                    .find(|i| i.slug == slug)
                    .and_then(|i| i.description.clone())
            },
            now,
        )
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

const SOURCE_KEYS: &[&str] = &[
    "name",
    "list",
    "host",
    "port",
    "tls",
    "user",
    "password",
    "password_env",
    "password_file",
    "mailbox",
    "ca_file",
    "poll_seconds",
    "delete_after_import",
];

/// One `[[sources]]` table; None when it has problems (all of them reported).
fn parse_source(v: &mut Validator, at: &str, t: &Table) -> Option<SourceConfig> {
    let before = v.problems.len();
    let key = |k: &str| format!("{at}.{k}");
    for k in t.keys() {
        if !SOURCE_KEYS.contains(&k.as_str()) {
            v.unknown(&key(k), SOURCE_KEYS);
        }
    }
    let required = |v: &mut Validator, k: &str, example: &str| -> Option<String> {
        match t.get(k) {
            Some(val) => v.string(&key(k), val, example).map(str::to_owned),
            None => {
                v.problem(
                    &key(k),
                    "is missing".to_owned(),
                    &format!("add {k} = {example}"),
                );
                None
            }
        }
    };
    let name = required(v, "name", "\"snug-inbox\"");
    let host = required(v, "host", "\"imap.example.org\"");
    let user = required(v, "user", "\"bridge@example.org\"");
    let list = match t.get("list") {
        Some(val) => v
            .string(&key("list"), val, "a list name such as \"snug\"")
            .map(str::to_owned),
        None => Some(DEFAULT_LIST.to_owned()),
    };
    let mailbox = match t.get("mailbox") {
        Some(val) => v
            .string(&key("mailbox"), val, "a mailbox name such as \"INBOX\"")
            .map(str::to_owned),
        None => Some("INBOX".to_owned()),
    };
    let tls = match t.get("tls") {
        None => Some(TlsMode::Implicit),
        Some(val) => match v.string(&key("tls"), val, "\"implicit\", \"starttls\" or \"plain\"") {
            Some("implicit") => Some(TlsMode::Implicit),
            Some("starttls") => Some(TlsMode::StartTls),
            Some("plain") => Some(TlsMode::Plain),
            Some(other) => {
                v.problem(&key("tls"), format!("{other:?} is not a TLS mode"), "use \"implicit\" (port 993), \"starttls\" (port 143) or \"plain\" (loopback only)");
                None
            }
            None => None,
        },
    };
    let port = match t.get("port") {
        Some(val) => v
            .integer(&key("port"), val, 1, 65535, "a port such as 993")
            .map(|p| p as u16),
        None => Some(if tls == Some(TlsMode::Implicit) {
            993
        } else {
            143
        }),
    };
    if let (Some(TlsMode::Plain), Some(host)) = (tls, host.as_deref())
        && !is_loopback(host)
    {
        v.problem(&key("tls"), format!("\"plain\" sends the password unencrypted to {host}"), "use \"implicit\" or \"starttls\"; \"plain\" is only for a server on this machine (127.0.0.1, ::1, localhost)");
    }
    let password = match secret(v, at, t) {
        Some(Some(p)) => Some(p),
        Some(None) => {
            v.problem(
                &key("password"),
                "is missing".to_owned(),
                "give one of password, password_env (an environment variable) or password_file",
            );
            None
        }
        None => None,
    };
    let ca_file = ca_file(v, at, t);
    let poll_seconds = match t.get("poll_seconds") {
        Some(val) => v
            .integer(
                &key("poll_seconds"),
                val,
                5,
                86_400,
                "a number of seconds such as 60",
            )
            .map(|n| n as u32),
        None => Some(60),
    };
    let delete_after_import = match t.get("delete_after_import") {
        Some(val) => v.boolean(&key("delete_after_import"), val),
        None => Some(false),
    };
    if v.problems.len() > before {
        return None;
    }
    Some(SourceConfig {
        name: name?,
        list: list?,
        host: host?,
        port: port?,
        tls: tls?,
        user: user?,
        password: password?,
        mailbox: mailbox?,
        ca_file: ca_file?,
        poll_seconds: poll_seconds?,
        delete_after_import: delete_after_import?,
    })
}

/// The password of a section: exactly one of `password`, `password_env`, `password_file`.
/// `Some(None)` when none is given, `None` when what is given has a problem (reported).
fn secret(v: &mut Validator, at: &str, t: &Table) -> Option<Option<Secret>> {
    let key = |k: &str| format!("{at}.{k}");
    let given: Vec<&str> = ["password", "password_env", "password_file"]
        .into_iter()
        .filter(|k| t.contains_key(*k))
        .collect();
    match given.as_slice() {
        ["password"] => v
            .string(&key("password"), &t["password"], "the password, in quotes")
            .map(|p| Some(Secret::new(p.to_owned()))),
        ["password_env"] => v
            .string(
                &key("password_env"),
                &t["password_env"],
                "an environment variable name",
            )
            .and_then(|var| match std::env::var(var) {
                Ok(p) => Some(Some(Secret::new(p))),
                Err(_) => {
                    v.problem(
                        &key("password_env"),
                        format!("the environment variable {var} is not set"),
                        &format!("set {var} before starting listbridge, or use password_file"),
                    );
                    None
                }
            }),
        ["password_file"] => v
            .string(&key("password_file"), &t["password_file"], "a file path")
            .and_then(|file| match std::fs::read_to_string(file) {
                Ok(p) => Some(Some(Secret::new(
                    p.trim_end_matches(['\r', '\n']).to_owned(),
                ))),
                Err(e) => {
                    v.problem(
                        &key("password_file"),
                        format!("{file} cannot be read: {e}"),
                        "check the path and that listbridge may read it",
                    );
                    None
                }
            }),
        [] => Some(None),
        _ => {
            v.problem(
                &key(given[1]),
                format!("is given together with {}", given[0]),
                "keep only one of password, password_env and password_file",
            );
            None
        }
    }
}

/// A section's `ca_file`: `Some(None)` when absent, `None` when it names no file (reported).
fn ca_file(v: &mut Validator, at: &str, t: &Table) -> Option<Option<PathBuf>> {
    match t.get("ca_file") {
        Some(val) => v
            .string(&format!("{at}.ca_file"), val, "a PEM file path")
            .and_then(|f| {
                let path = PathBuf::from(f);
                if path.is_file() {
                    Some(Some(path))
                } else {
                    v.problem(
                        &format!("{at}.ca_file"),
                        format!("{f} is not a file"),
                        "give the path of the CA certificate in PEM form, or remove the key",
                    );
                    None
                }
            }),
        None => Some(None),
    }
}

const INTEREST_KEYS: &[&str] = &["slug", "name", "description", "keywords", "patterns"];

/// One `[[interests]]` table; None when it has problems (all of them reported).
fn parse_interest(v: &mut Validator, at: &str, t: &Table) -> Option<InterestConfig> {
    let before = v.problems.len();
    let key = |k: &str| format!("{at}.{k}");
    for k in t.keys() {
        if !INTEREST_KEYS.contains(&k.as_str()) {
            v.unknown(&key(k), INTEREST_KEYS);
        }
    }
    let slug = match t.get("slug") {
        Some(val) => v.string(&key("slug"), val, "a short name such as \"asthma\"").and_then(|s| {
            if valid_list_name(s) {
                Some(s.to_owned())
            } else {
                v.problem(&key("slug"), format!("{s:?} is not a usable slug"), "use 1 to 64 lowercase letters, digits, '-' or '_' (it appears in web addresses: /i/asthma)");
                None
            }
        }),
        None => {
            v.problem(&key("slug"), "is missing".to_owned(), "add slug = \"asthma\"");
            None
        }
    };
    let name = match t.get("name") {
        Some(val) => v
            .string(&key("name"), val, "a name such as \"Asthma\"")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        None => {
            v.problem(
                &key("name"),
                "is missing".to_owned(),
                "add name = \"Asthma\"",
            );
            None
        }
    };
    let description = t
        .get("description")
        .and_then(|val| v.string(&key("description"), val, "a sentence"))
        .map(str::to_owned);
    let strings = |v: &mut Validator, k: &str, example: &str| -> Vec<String> {
        let Some(val) = t.get(k) else {
            return Vec::new();
        };
        let Some(items) = val.as_array() else {
            v.problem(
                &key(k),
                format!("is {}, not a list", kind(val)),
                &format!("write a list such as {example}"),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(j, item)| {
                v.string(&format!("{}[{j}]", key(k)), item, "a word or phrase")
                    .map(str::to_owned)
            })
            .collect()
    };
    let keywords = strings(v, "keywords", "[\"asthma\", \"inhaler\"]");
    let patterns = strings(v, "patterns", "[\"\\\\bpeak flow\\\\b\"]");
    for (j, p) in patterns.iter().enumerate() {
        if let Err(e) = regex::Regex::new(p) {
            v.problem(
                &format!("{}[{j}]", key("patterns")),
                format!(
                    "is not a valid regular expression: {}",
                    e.to_string().lines().last().unwrap_or_default()
                ),
                "correct the pattern (Rust regex syntax), or use keywords instead",
            );
        }
    }
    if keywords.is_empty() && patterns.is_empty() {
        v.problem(&key("keywords"), "is empty, and there are no patterns".to_owned(), "give the words and phrases that mean this interest, such as keywords = [\"asthma\", \"inhaler\"]");
    }
    if v.problems.len() > before {
        return None;
    }
    Some(InterestConfig {
        slug: slug?,
        name: name?,
        description,
        keywords,
        patterns,
    })
}

const OUTBOUND_KEYS: &[&str] = &[
    "host",
    "port",
    "tls",
    "user",
    "password",
    "password_env",
    "password_file",
    "ca_file",
    "from_address",
    "reply_address",
    "bounce_address",
    "reply_key_days",
    "hard_bounce_limit",
    "max_message_mb",
    "echo_wait_seconds",
];

/// The `[outbound]` table; None when it has problems (all of them reported).
fn parse_outbound(v: &mut Validator, t: &Table) -> Option<OutboundConfig> {
    let before = v.problems.len();
    let at = "outbound";
    let key = |k: &str| format!("{at}.{k}");
    for k in t.keys() {
        if !OUTBOUND_KEYS.contains(&k.as_str()) {
            v.unknown(&key(k), OUTBOUND_KEYS);
        }
    }
    let text = |v: &mut Validator, k: &str, example: &str| -> Option<String> {
        t.get(k)
            .and_then(|val| v.string(&key(k), val, example))
            .map(|s| s.trim().to_owned())
    };
    let address = |v: &mut Validator, k: &str, s: Option<String>, placeholder: Option<&str>| {
        let s = s?;
        let ok = s.contains('@') && !s.contains(char::is_whitespace);
        if !ok {
            v.problem(
                &key(k),
                format!("{s:?} is not an email address"),
                "write an address such as \"forum@lists.example.org\"",
            );
            return None;
        }
        if let Some(p) = placeholder
            && !s.split('@').next().unwrap_or_default().contains(p)
        {
            v.problem(&key(k), format!("{s:?} has no {p} in its local part"), &format!("write it as \"name+{p}@your.domain\", an address whose mail reaches the bridge's mailbox"));
            return None;
        }
        Some(s)
    };
    let host = text(v, "host", "\"smtp.example.org\"").unwrap_or_else(|| "127.0.0.1".to_owned());
    let tls = match t.get("tls") {
        None => Some(if is_loopback(&host) {
            TlsMode::Plain
        } else {
            TlsMode::StartTls
        }),
        Some(val) => match v.string(&key("tls"), val, "\"implicit\", \"starttls\" or \"plain\"") {
            Some("implicit") => Some(TlsMode::Implicit),
            Some("starttls") => Some(TlsMode::StartTls),
            Some("plain") => Some(TlsMode::Plain),
            Some(other) => {
                v.problem(&key("tls"), format!("{other:?} is not a TLS mode"), "use \"implicit\" (port 465), \"starttls\" (port 587) or \"plain\" (loopback only)");
                None
            }
            None => None,
        },
    };
    if tls == Some(TlsMode::Plain) && !is_loopback(&host) {
        v.problem(&key("tls"), format!("\"plain\" sends mail unencrypted to {host}"), "use \"implicit\" or \"starttls\"; \"plain\" is only for a server on this machine (127.0.0.1, ::1, localhost)");
    }
    let port = match t.get("port") {
        Some(val) => v
            .integer(&key("port"), val, 1, 65535, "a port such as 587")
            .map(|p| p as u16),
        None => Some(match tls {
            Some(TlsMode::Implicit) => 465,
            Some(TlsMode::StartTls) => 587,
            _ => 25,
        }),
    };
    let user = text(v, "user", "\"bridge@example.org\"");
    let password = secret(v, at, t);
    if user.is_some() && matches!(password, Some(None)) {
        v.problem(
            &key("password"),
            "is missing while user is given".to_owned(),
            "give one of password, password_env or password_file, or remove user",
        );
    }
    let ca_file = ca_file(v, at, t);
    let from_address = match text(v, "from_address", "\"forum@lists.example.org\"") {
        Some(s) => address(v, "from_address", Some(s), None),
        None => {
            v.problem(&key("from_address"), "is missing".to_owned(), "add from_address = \"forum@lists.example.org\", an address at your own domain whose mail reaches the bridge's mailbox");
            None
        }
    };
    let domain = from_address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.to_owned());
    let derived = |local: &str| domain.as_ref().map(|d| format!("{local}@{d}"));
    let reply_address = match text(v, "reply_address", "\"reply+{key}@lists.example.org\"") {
        Some(s) => address(v, "reply_address", Some(s), Some("{key}")),
        None => derived("reply+{key}"),
    };
    let bounce_address = match text(
        v,
        "bounce_address",
        "\"bounces+{recipient}@lists.example.org\"",
    ) {
        Some(s) => address(v, "bounce_address", Some(s), Some("{recipient}")),
        None => derived("bounces+{recipient}"),
    };
    let number = |v: &mut Validator, k: &str, min: i64, max: i64, example: &str, default: u32| {
        match t.get(k) {
            Some(val) => v.integer(&key(k), val, min, max, example).map(|n| n as u32),
            None => Some(default),
        }
    };
    let reply_key_days = number(
        v,
        "reply_key_days",
        1,
        3650,
        "a number of days such as 365",
        365,
    );
    let hard_bounce_limit = number(v, "hard_bounce_limit", 1, 100, "a count such as 3", 3);
    let max_message_mb = number(
        v,
        "max_message_mb",
        1,
        1024,
        "a size in megabytes such as 25",
        25,
    );
    let echo_wait_seconds = number(
        v,
        "echo_wait_seconds",
        1,
        7 * 86_400,
        "a number of seconds such as 1800",
        1800,
    );
    if v.problems.len() > before {
        return None;
    }
    Some(OutboundConfig {
        host,
        port: port?,
        tls: tls?,
        user,
        password: password?,
        ca_file: ca_file?,
        from_address: from_address?,
        reply_address: reply_address?,
        bounce_address: bounce_address?,
        reply_key_days: reply_key_days?,
        hard_bounce_limit: hard_bounce_limit?,
        max_message_mb: max_message_mb?,
        echo_wait_seconds: echo_wait_seconds?,
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "a whole number",
        Value::Float(_) => "a decimal number",
        Value::Boolean(_) => "true/false",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// Collects problems while the config is walked.
#[derive(Default)]
struct Validator {
    problems: Vec<ConfigProblem>,
}

impl Validator {
    /// The tables of a `[[key]]` array with their dotted paths (`lists[1]`); anything else is
    /// reported.
    fn sections<'v>(
        &mut self,
        key: &str,
        value: &'v Value,
        what: &str,
    ) -> Vec<(String, &'v Table)> {
        let Some(items) = value.as_array() else {
            self.problem(
                key,
                format!("is {}, not a list of tables", kind(value)),
                &format!("write each {what} as a [[{key}]] section"),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let at = format!("{key}[{i}]");
                self.table(&at, item).map(|t| (at, t))
            })
            .collect()
    }

    /// Reports a name an earlier section of the same kind already uses; true when it is free.
    fn unique(&mut self, at: &str, key: &str, name: &str, taken: bool, what: &str) -> bool {
        if taken {
            self.problem(
                &format!("{at}.{key}"),
                format!("{name:?} is used by an earlier {what}"),
                &format!("give each {what} its own {key}"),
            );
        }
        !taken
    }

    fn problem(&mut self, key: &str, problem: String, fix: &str) {
        self.problems.push(ConfigProblem {
            key: key.to_owned(),
            problem,
            fix: fix.to_owned(),
        });
    }

    fn unknown(&mut self, key: &str, known: &[&str]) {
        self.problem(
            key,
            "is not a known key".to_owned(),
            &format!(
                "remove it or check its spelling (known here: {}); config.toml.example lists every key",
                known.join(", ")
            ),
        );
    }

    fn table<'v>(&mut self, key: &str, value: &'v Value) -> Option<&'v Table> {
        let t = value.as_table();
        if t.is_none() {
            self.problem(
                key,
                format!("is {}, not a table", kind(value)),
                &format!("write it as a [{key}] section"),
            );
        }
        t
    }

    fn string<'v>(&mut self, key: &str, value: &'v Value, example: &str) -> Option<&'v str> {
        let s = value.as_str();
        if s.is_none() {
            self.problem(
                key,
                format!("is {}, not a string", kind(value)),
                &format!("write {example}, in quotes"),
            );
        }
        s
    }

    fn boolean(&mut self, key: &str, value: &Value) -> Option<bool> {
        let b = value.as_bool();
        if b.is_none() {
            self.problem(
                key,
                format!("is {}, not true/false", kind(value)),
                "write true or false, without quotes",
            );
        }
        b
    }

    fn integer(
        &mut self,
        key: &str,
        value: &Value,
        min: i64,
        max: i64,
        example: &str,
    ) -> Option<i64> {
        match value.as_integer() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.problem(
                    key,
                    format!("{n} is out of range"),
                    &format!("use {example}, between {min} and {max}"),
                );
                None
            }
            None => {
                self.problem(
                    key,
                    format!("is {}, not a whole number", kind(value)),
                    &format!("write {example}, without quotes"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_config_gives_the_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
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
        let problems = Config::parse(text).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "colour",
            "store.path",
            "threading.subject_fallback",
            "threading.subject_window_days",
            "lists[0].address",
            "lists[0].name",
            "lists[1].name",
            "lists[1].footer_patterns[0]",
        ] {
            assert!(
                keys.contains(&key),
                "no problem reported for {key}: {keys:?}"
            );
        }
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
            (source.port, source.tls, source.mailbox.as_str()),
            (1143, TlsMode::Plain, "INBOX")
        );
        assert_eq!(source.password.expose(), "hunter2");
        assert!(
            !format!("{ok:?}").contains("hunter2"),
            "a password must never be printed"
        );

        let problems = Config::parse(
            "[[lists]]\nname = \"snug\"\n[[sources]]\nname = \"x\"\nlist = \"other\"\nhost = \"imap.example.org\"\n\
             tls = \"plain\"\nuser = \"u\"\npassword = \"p\"\npassword_env = \"LISTBRIDGE_TEST_UNSET_VAR\"\nport = 0\n\
             [[sources]]\nname = \"y\"\nhost = \"h\"\nuser = \"u\"\npassword_env = \"LISTBRIDGE_TEST_UNSET_VAR\"\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "sources[0].tls",
            "sources[0].password_env",
            "sources[0].port",
            "sources[1].password_env",
        ] {
            assert!(keys.contains(&key), "no problem for {key}: {problems:#?}");
        }
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
        let text = include_str!("../config.toml.example");
        let config = Config::parse(text).unwrap_or_else(|p| panic!("config.toml.example: {p:?}"));
        assert!(!config.lists.is_empty(), "the example shows a list");
        // Every key the validator knows appears in the example, uncommented.
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
        for key in SOURCE_KEYS.iter().chain(OUTBOUND_KEYS).chain(INTEREST_KEYS) {
            assert!(
                shown(&format!("{key} =")),
                "config.toml.example does not show {key}"
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
        assert_eq!(outbound.host, "127.0.0.1");
        assert_eq!((outbound.port, outbound.tls), (25, TlsMode::Plain));
        assert_eq!(outbound.reply_address, "reply+{key}@lists.test");
        assert_eq!(outbound.bounce_address, "bounces+{recipient}@lists.test");
        assert_eq!(config.lists[0].mode, ListMode::Host);
        assert_eq!(config.web.base_url, "http://127.0.0.1:8080");

        let problems = Config::parse(
            "[outbound]\nhost = \"smtp.example.org\"\ntls = \"plain\"\nreply_address = \"reply@x.org\"\nuser = \"u\"\n[[lists]]\nname = \"a\"\nmode = \"host\"\n[[lists]]\nname = \"b\"\nmode = \"hosted\"\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "outbound.tls",
            "outbound.reply_address",
            "outbound.password",
            "outbound.from_address",
            "lists[0].address",
            "lists[1].mode",
        ] {
            assert!(keys.contains(&key), "{key} not reported: {problems:#?}");
        }
        let problems =
            Config::parse("[[lists]]\nname = \"a\"\naddress = \"a@b.c\"\nmode = \"host\"\n")
                .unwrap_err();
        assert_eq!(problems[0].key, "lists[0].mode", "{problems:#?}");
    }
}
