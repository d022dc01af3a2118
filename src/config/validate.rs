//! Reading a config file into the validated [`Config`]. The key table's first pass
//! ([`keys::check`]) reports unknown keys and values of the wrong type; each section it keeps is
//! then read by serde into a raw struct and validated here (addresses, patterns, choices,
//! required keys, the rules between sections), every problem collected, none stopping the rest.
//!
//! Why not serde alone: it stops at a section's first error, in words an admin cannot act on.
//! After the first pass the raw structs cannot fail on what a file holds; their
//! `deny_unknown_fields` keeps them and the key table in step (a test reads every table key).

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::tags::InterestRules;

use super::keys::{self, Checked};
use super::{
    AttachmentsConfig, Config, ConfigProblem, EventsConfig, InterestConfig, ListConfig, ListMode,
    Login, MailServer, ModerationConfig, Organisers, OutboundConfig, PrivacyConfig, Secret,
    SourceConfig, StoreConfig, ThreadingConfig, TlsMode, WebConfig, valid_list_name,
};
use crate::mail::privacy::Screen;

/// The problems found so far, and the keys whose value was refused.
#[derive(Default)]
pub(super) struct Problems {
    list: Vec<ConfigProblem>,
    refused: HashSet<String>,
}

impl Problems {
    fn problem(&mut self, key: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.list.push(ConfigProblem {
            key: key.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// Reports a value that is not used: the key then counts as absent but not missing.
    pub(super) fn refuse(&mut self, key: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.problem(key, problem, fix);
        self.refused.insert(key.to_owned());
    }

    pub(super) fn unknown<'k>(&mut self, key: &str, known: impl Iterator<Item = &'k str>) {
        self.problem(
            key,
            "is not a known key",
            format!(
                "remove it or check its spelling (known here: {}); config.toml.example lists every key",
                known.collect::<Vec<_>>().join(", ")
            ),
        );
    }

    /// Reports a required key that is absent, unless its value was refused already.
    fn missing(&mut self, key: &str, fix: impl Into<String>) {
        if !self.refused.contains(key) {
            self.problem(key, "is missing", fix);
        }
    }

    /// Whether anything under `at` (`sources[1]`) has a problem.
    fn any_under(&self, at: &str) -> bool {
        let prefix = format!("{at}.");
        self.list.iter().any(|p| p.key.starts_with(&prefix))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: String,
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    listen: String,
    site_name: String,
    base_url: Option<String>,
    hide_addresses: bool,
    client_address_header: Option<String>,
    cache_mb: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreading {
    subject_fallback: bool,
    subject_window_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttachments {
    max_size_mb: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    time_zone: String,
    reminder_hours: u32,
    organisers: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    hold_patterns: Vec<String>,
    erasure: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModeration {
    hide_after_flags: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    name: Option<String>,
    address: Option<String>,
    description: Option<String>,
    subject_tag: Option<String>,
    footer_patterns: Vec<String>,
    mode: String,
    unknown_senders: String,
    posts_per_hour: u32,
    private: bool,
}

/// The keys of `[outbound]` and `[[sources]]` that say how to reach their mail server: they
/// are read into [`RawServer`], the others of the table into the section's own raw struct.
const SERVER_KEYS: [&str; 8] = [
    "host",
    "port",
    "tls",
    "user",
    "password",
    "password_env",
    "password_file",
    "ca_file",
];

// No Debug on the raw struct that holds passwords: they are never printed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    user: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    ca_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Option<String>,
    list: String,
    mailbox: String,
    poll_seconds: u32,
    delete_after_import: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterest {
    slug: Option<String>,
    name: Option<String>,
    description: Option<String>,
    keywords: Vec<String>,
    patterns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbound {
    from_address: Option<String>,
    reply_address: Option<String>,
    bounce_address: Option<String>,
    reply_key_days: u32,
    hard_bounce_limit: u32,
    max_message_mb: u32,
    echo_wait_seconds: u32,
}

/// Parses and validates config text, collecting every problem.
pub(super) fn parse(text: &str) -> Result<Config, Vec<ConfigProblem>> {
    let file: Table = text.parse().map_err(|e: toml::de::Error| {
        vec![ConfigProblem {
            key: "(syntax)".to_owned(),
            problem: e.message().to_owned()
                + &e.span()
                    .map(|s| format!(" (at line {})", line_of(text, s.start)))
                    .unwrap_or_default(),
            fix: "correct the TOML syntax; config.toml.example shows every key".to_owned(),
        }]
    })?;
    let mut p = Problems::default();
    let mut c = keys::check(file, &mut p);
    let outbound_given = c.tables.contains_key("outbound") || p.refused.contains("outbound");
    // The sections in the file's (alphabetical) order, so problems read top to bottom.
    let attachments =
        section(&mut p, &mut c, "attachments").map(|r: RawAttachments| AttachmentsConfig {
            max_size_mb: r.max_size_mb,
        });
    let events = section(&mut p, &mut c, "events").and_then(|r| events(&mut p, r));
    let interests = items(&mut p, &mut c, "interests", "interest", "slug", interest);
    let lists = items(&mut p, &mut c, "lists", "list", "name", list);
    let moderation =
        section(&mut p, &mut c, "moderation").map(|r: RawModeration| ModerationConfig {
            hide_after_flags: r.hide_after_flags,
        });
    let outbound = match c.tables.remove("outbound") {
        Some(t) => read_with_server(&mut p, "outbound", t).and_then(|r| outbound(&mut p, r)),
        None => None,
    };
    let privacy = section(&mut p, &mut c, "privacy").and_then(|r| privacy(&mut p, r));
    let sources = items(&mut p, &mut c, "sources", "source", "name", source);
    let store = section(&mut p, &mut c, "store").map(|r: RawStore| {
        let url = r.url.filter(|url| {
            let postgres = matches!(
                crate::store::Location::parse(url),
                crate::store::Location::Postgres(_)
            );
            if !postgres {
                p.problem(
                    "store.url",
                    "is not a PostgreSQL URL",
                    "write it as postgres://user@host:port/dbname, or use [store] path for a SQLite file",
                );
            }
            postgres
        });
        StoreConfig {
            path: PathBuf::from(r.path),
            url,
        }
    });
    let threading = section(&mut p, &mut c, "threading").map(|r: RawThreading| ThreadingConfig {
        subject_fallback: r.subject_fallback,
        subject_window_days: r.subject_window_days,
    });
    let web = section(&mut p, &mut c, "web").and_then(|r| web(&mut p, r));

    // A host-mode list is the list: it needs a posting address and a way to send.
    for (at, list) in lists.iter().filter(|(_, l)| l.mode == ListMode::Host) {
        if list.address.is_none() {
            p.problem(
                &format!("{at}.address"),
                "is missing for a host-mode list",
                "give the address members post to, such as \"snug@lists.example.org\"",
            );
        }
        if !outbound_given {
            p.problem(
                &format!("{at}.mode"),
                "is \"host\" but there is no [outbound] section",
                "add an [outbound] section (config.toml.example shows one), or use mode = \"mirror\"",
            );
        }
    }
    // Sources name lists; when lists are configured, a source must name one of them.
    for (at, source) in &sources {
        if !lists.is_empty() && !lists.iter().any(|(_, l)| l.name == source.list) {
            p.problem(
                &format!("{at}.list"),
                format!("names {:?}, which is not a [[lists]] name", source.list),
                "use the name of one of the [[lists]] sections",
            );
        }
    }
    match (
        store,
        threading,
        attachments,
        web,
        events,
        privacy,
        moderation,
    ) {
        (
            Some(store),
            Some(threading),
            Some(attachments),
            Some(web),
            Some(events),
            Some(privacy),
            Some(moderation),
        ) if p.list.is_empty() => Ok(Config {
            store,
            threading,
            attachments,
            lists: unpaired(lists),
            sources: unpaired(sources),
            web,
            outbound,
            interests: unpaired(interests),
            events,
            privacy,
            moderation,
        }),
        _ => Err(p.list),
    }
}

/// The items of a `[[list]]` section without their paths.
fn unpaired<T>(items: Vec<(String, T)>) -> Vec<T> {
    items.into_iter().map(|(_, item)| item).collect()
}

/// A `[table]` section read into its raw struct.
fn section<T: DeserializeOwned>(p: &mut Problems, c: &mut Checked, name: &str) -> Option<T> {
    read(p, name, c.tables.remove(name).unwrap_or_default())
}

/// The table at `at` read into its raw struct. The first pass left only known keys of the
/// right type, so this fails only when the raw struct and the key table disagree.
fn read<T: DeserializeOwned>(p: &mut Problems, at: &str, t: Table) -> Option<T> {
    Value::Table(t)
        .try_into()
        .map_err(|e: toml::de::Error| {
            p.problem(
                at,
                format!("cannot be read: {}", e.message().trim()),
                "check it against config.toml.example",
            )
        })
        .ok()
}

/// A table that names a mail server, read into its [`SERVER_KEYS`] and the section's own raw
/// struct.
fn read_with_server<T: DeserializeOwned>(
    p: &mut Problems,
    at: &str,
    mut t: Table,
) -> Option<(RawServer, T)> {
    let server = SERVER_KEYS
        .iter()
        .filter_map(|&k| Some((k.to_owned(), t.remove(k)?)))
        .collect();
    Some((read(p, at, server)?, read(p, at, t)?))
}

/// The validated tables of a `[[list]]` section with their paths; each is named by its `id`
/// key, which must be unique.
fn items<T>(
    p: &mut Problems,
    c: &mut Checked,
    section: &str,
    what: &str,
    id: &str,
    validate: impl Fn(&mut Problems, &str, Table) -> Option<(String, T)>,
) -> Vec<(String, T)> {
    let mut done: Vec<(String, String, T)> = Vec::new();
    for (at, t) in c.items.remove(section).unwrap_or_default() {
        let Some((name, item)) = validate(p, &at, t) else {
            continue;
        };
        if done.iter().any(|(_, n, _)| *n == name) {
            p.problem(
                &format!("{at}.{id}"),
                format!("{name:?} is used by an earlier {what}"),
                format!("give each {what} its own {id}"),
            );
        } else {
            done.push((at, name, item));
        }
    }
    done.into_iter().map(|(at, _, item)| (at, item)).collect()
}

fn web(p: &mut Problems, r: RawWeb) -> Option<WebConfig> {
    let listen = r.listen.parse::<std::net::SocketAddr>().ok();
    if listen.is_none() {
        p.problem(
            "web.listen",
            format!("{:?} is not an address and port", r.listen),
            "write it as \"127.0.0.1:8080\" or \"[::1]:8080\"",
        );
    }
    let site_name = r.site_name.trim().to_owned();
    if site_name.is_empty() {
        p.problem(
            "web.site_name",
            "is empty",
            "give the forum a name, such as \"SNUG forum\"",
        );
    }
    let base_url = r.base_url.map(|s| {
        let s = s.trim().trim_end_matches('/').to_owned();
        if !(s.starts_with("http://") || s.starts_with("https://"))
            || s.contains(char::is_whitespace)
        {
            p.problem(
                "web.base_url",
                format!("{s:?} is not an http(s) address"),
                "write the address readers use, such as \"https://forum.example.org\"",
            );
        }
        s
    });
    let client_address_header = r.client_address_header.map(|h| {
        let h = h.trim().to_ascii_lowercase();
        if h.is_empty() || !h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            p.problem(
                "web.client_address_header",
                format!("{h:?} is not a header name"),
                "write the header your proxy sets, such as \"X-Forwarded-For\", or leave it out",
            );
        }
        h
    });
    let listen = listen?;
    (!p.any_under("web")).then(|| WebConfig {
        listen,
        site_name,
        base_url: base_url.unwrap_or_else(|| format!("http://{listen}")),
        hide_addresses: r.hide_addresses,
        client_address_header,
        cache_mb: r.cache_mb,
    })
}

fn events(p: &mut Problems, r: RawEvents) -> Option<EventsConfig> {
    let time_zone = match r.time_zone.trim().parse::<chrono_tz::Tz>() {
        Ok(tz) => Some(tz.name().to_owned()),
        Err(_) => {
            p.problem(
                "events.time_zone",
                format!("{:?} is not a known time zone", r.time_zone),
                "use an IANA zone name such as \"Europe/London\" or \"UTC\"",
            );
            None
        }
    };
    let organisers = choice(
        p,
        "events.organisers",
        &r.organisers,
        &[
            ("moderators", Organisers::Moderators),
            ("members", Organisers::Members),
        ],
        "a choice here",
        "write \"moderators\" (moderators and admins announce events) or \"members\" (any member)",
    );
    Some(EventsConfig {
        time_zone: time_zone?,
        reminder_hours: r.reminder_hours,
        organisers: organisers?,
    })
}

fn privacy(p: &mut Problems, r: RawPrivacy) -> Option<PrivacyConfig> {
    let erasure = crate::store::ErasurePolicy::parse(&r.erasure);
    if erasure.is_none() {
        p.problem(
            "privacy.erasure",
            format!("{:?} is not a choice here", r.erasure),
            "write \"redact\" (erased messages stay in their threads as a short notice, without text, attachments or author) or \"remove\" (they go entirely)",
        );
    }
    let mut compiles = true;
    for (i, pattern) in r.hold_patterns.iter().enumerate() {
        if let Err(e) = regex::Regex::new(pattern) {
            compiles = false;
            p.problem(
                &format!("privacy.hold_patterns[{i}]"),
                format!("is not a valid regular expression: {e}"),
                "correct the pattern (Rust regex syntax; escape backslashes as \\\\ in TOML strings)",
            );
        }
    }
    // Compiled here, once: every post is screened with it.
    let screen = match Screen::new(&r.hold_patterns) {
        Ok(screen) => Some(screen),
        Err(e) if compiles => {
            p.problem(
                "privacy.hold_patterns",
                format!("cannot be compiled together: {e}"),
                "use fewer or simpler patterns",
            );
            None
        }
        Err(_) => None,
    };
    Some(PrivacyConfig {
        hold_patterns: r.hold_patterns,
        erasure: erasure?,
        screen: screen?,
    })
}

/// Regular expressions, each problem reported under `key[j]`; `fix` says how to correct one.
fn patterns(p: &mut Problems, key: &str, patterns: &[String], fix: &str) -> Vec<regex::Regex> {
    let mut compiled = Vec::new();
    for (j, pattern) in patterns.iter().enumerate() {
        match regex::Regex::new(pattern) {
            Ok(r) => compiled.push(r),
            Err(e) => p.problem(
                &format!("{key}[{j}]"),
                format!(
                    "is not a valid regular expression: {}",
                    e.to_string().lines().last().unwrap_or_default()
                ),
                fix,
            ),
        }
    }
    compiled
}

/// One `[[lists]]` table; None when its name is missing or unusable (other problems are
/// reported and the list kept, so the rules between sections still see it).
fn list(p: &mut Problems, at: &str, t: Table) -> Option<(String, ListConfig)> {
    let r: RawList = read(p, at, t)?;
    let key = |k: &str| format!("{at}.{k}");
    let address = r.address.filter(|s| {
        let ok = s.contains('@') && !s.contains(char::is_whitespace);
        if !ok {
            p.problem(
                &key("address"),
                format!("{s:?} is not an email address"),
                "write the list's posting address, such as \"snug@lists.example.org\"",
            );
        }
        ok
    });
    let subject_tag = r.subject_tag.and_then(|s| {
        let s = s.trim();
        if s.is_empty() {
            p.problem(
                &key("subject_tag"),
                "is empty",
                "remove the key, or write the tag such as \"[SNUG]\"",
            );
        }
        (!s.is_empty()).then(|| s.to_owned())
    });
    let footer_patterns = patterns(
        p,
        &key("footer_patterns"),
        &r.footer_patterns,
        "correct the pattern (Rust regex syntax; escape [ ] ( ) . with a backslash)",
    );
    let mode = choice(
        p,
        &key("mode"),
        &r.mode,
        &[("mirror", ListMode::Mirror), ("host", ListMode::Host)],
        "a mode",
        "use \"mirror\" (the legacy list keeps running) or \"host\" (the bridge is the list)",
    );
    let hold_unknown_senders = choice(
        p,
        &key("unknown_senders"),
        &r.unknown_senders,
        &[("refuse", false), ("hold", true)],
        "a choice here",
        "use \"refuse\" (the sender is told how to join) or \"hold\" (a moderator decides)",
    );
    let Some(name) = r.name else {
        p.missing(
            &key("name"),
            "give every [[lists]] a name, such as name = \"snug\"",
        );
        return None;
    };
    if !valid_list_name(&name) {
        p.problem(
            &key("name"),
            format!("{name:?} is not a usable list name"),
            "use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        );
        return None;
    }
    let list = ListConfig {
        name: name.clone(),
        address,
        description: r.description,
        subject_tag,
        footer_patterns,
        mode: mode.unwrap_or_default(),
        hold_unknown_senders: hold_unknown_senders.unwrap_or(false),
        posts_per_hour: r.posts_per_hour,
        private: r.private,
    };
    Some((name, list))
}

/// One `[[sources]]` table; None when it has problems (all of them reported).
fn source(p: &mut Problems, at: &str, t: Table) -> Option<(String, SourceConfig)> {
    let (server, r): (_, RawSource) = read_with_server(p, at, t)?;
    if r.name.is_none() {
        p.missing(&format!("{at}.name"), "add name = \"snug-inbox\"");
    }
    let server = mail_server(p, at, server, &IMAP);
    if p.any_under(at) {
        return None;
    }
    let name = r.name?;
    let source = SourceConfig {
        name: name.clone(),
        list: r.list,
        server: server?,
        mailbox: r.mailbox,
        poll_seconds: r.poll_seconds,
        delete_after_import: r.delete_after_import,
    };
    Some((name, source))
}

/// Where the mail servers of the two sections differ, besides their login (see [`LoginRule`]).
struct ServerKind {
    /// The default ports for implicit TLS, STARTTLS and plain.
    ports: [u16; 3],
    /// What "plain" would send unencrypted over the network.
    exposes: &'static str,
    /// The example a missing host's fix shows.
    host_example: &'static str,
}

/// The IMAP server of a `[[sources]]` mailbox.
const IMAP: ServerKind = ServerKind {
    ports: [993, 143, 143],
    exposes: "the password",
    host_example: "\"imap.example.org\"",
};

/// The SMTP server of `[outbound]`.
const SMTP: ServerKind = ServerKind {
    ports: [465, 587, 25],
    exposes: "mail",
    host_example: "\"smtp.example.org\"",
};

/// Whether a server's login is required ([`Login`]: IMAP) or not (`Option<Login>`: SMTP, where
/// a user asks for SMTP AUTH).
trait LoginRule: Sized {
    /// Whether `user` must be given.
    const REQUIRED: bool;
    /// What is reported of a missing password (where `user` is given, if it is not required):
    /// the problem and the fix.
    const NO_PASSWORD: [&str; 2];
    /// The login as the section holds it, from the user and password given (both or none;
    /// a missing one is reported already).
    fn from_given(login: Option<Login>) -> Option<Self>;
}

impl LoginRule for Login {
    const REQUIRED: bool = true;
    const NO_PASSWORD: [&str; 2] = [
        "is missing",
        "give one of password, password_env (an environment variable) or password_file",
    ];
    fn from_given(login: Option<Login>) -> Option<Login> {
        login
    }
}

impl LoginRule for Option<Login> {
    const REQUIRED: bool = false;
    const NO_PASSWORD: [&str; 2] = [
        "is missing while user is given",
        "give one of password, password_env or password_file, or remove user",
    ];
    fn from_given(login: Option<Login>) -> Option<Option<Login>> {
        Some(login)
    }
}

/// The mail server of the table at `at`; None when it has problems (all of them reported).
/// An absent `tls` (only `[outbound]` has no default) is plain to a loopback host, else STARTTLS.
fn mail_server<L: LoginRule>(
    p: &mut Problems,
    at: &str,
    r: RawServer,
    kind: &ServerKind,
) -> Option<MailServer<L>> {
    let key = |k: &str| format!("{at}.{k}");
    if r.host.is_none() {
        p.missing(&key("host"), format!("add host = {}", kind.host_example));
    }
    if L::REQUIRED && r.user.is_none() {
        p.missing(&key("user"), "add user = \"bridge@example.org\"");
    }
    let [implicit, starttls, plain] = kind.ports;
    let tls = match (r.tls, r.host.as_deref()) {
        (Some(s), _) => tls_mode(p, &key("tls"), &s, [implicit, starttls]),
        (None, Some(host)) if is_loopback(host) => Some(TlsMode::Plain),
        (None, _) => Some(TlsMode::StartTls),
    };
    if let (Some(TlsMode::Plain), Some(host)) = (tls, r.host.as_deref())
        && !is_loopback(host)
    {
        p.problem(
            &key("tls"),
            format!("\"plain\" sends {} unencrypted to {host}", kind.exposes),
            "use \"implicit\" or \"starttls\"; \"plain\" is only for a server on this machine (127.0.0.1, ::1, localhost)",
        );
    }
    let port = r.port.unwrap_or(match tls {
        Some(TlsMode::Implicit) => implicit,
        Some(TlsMode::StartTls) => starttls,
        _ => plain,
    });
    let password = secret(p, at, [r.password, r.password_env, r.password_file]);
    let login = match (r.user, password) {
        (Some(user), Some(Some(password))) => L::from_given(Some(Login { user, password })),
        (user, Some(None)) if L::REQUIRED || user.is_some() => {
            let [problem, fix] = L::NO_PASSWORD;
            p.problem(&key("password"), problem, fix);
            None
        }
        // No user: a password given is not used.
        (_, Some(_)) => L::from_given(None),
        // What was given has a problem, reported.
        (_, None) => None,
    };
    let ca_file = ca_file(p, at, r.ca_file);
    Some(MailServer {
        host: r.host?,
        port,
        tls: tls?,
        login: login?,
        ca_file: ca_file?,
    })
}

/// The TLS mode `s`; the fix names the ports of implicit TLS and STARTTLS.
fn tls_mode(p: &mut Problems, key: &str, s: &str, ports: [u16; 2]) -> Option<TlsMode> {
    let [implicit, starttls] = ports;
    choice(
        p,
        key,
        s,
        &[
            ("implicit", TlsMode::Implicit),
            ("starttls", TlsMode::StartTls),
            ("plain", TlsMode::Plain),
        ],
        "a TLS mode",
        &format!(
            "use \"implicit\" (port {implicit}), \"starttls\" (port {starttls}) or \"plain\" (loopback only)"
        ),
    )
}

/// The value of the word `s` among a key's `choices`; anything else is reported as not
/// `what` (`a mode`), with `fix`.
fn choice<T: Copy>(
    p: &mut Problems,
    key: &str,
    s: &str,
    choices: &[(&str, T)],
    what: &str,
    fix: &str,
) -> Option<T> {
    let found = choices.iter().find(|(word, _)| *word == s).map(|(_, v)| *v);
    if found.is_none() {
        p.problem(key, format!("{s:?} is not {what}"), fix);
    }
    found
}

/// The password of a section from exactly one of `password`, `password_env`,
/// `password_file` (in that order in `given`). `Some(None)` when none is given, `None` when
/// what is given has a problem (reported).
fn secret(p: &mut Problems, at: &str, given: [Option<String>; 3]) -> Option<Option<Secret>> {
    const KEYS: [&str; 3] = ["password", "password_env", "password_file"];
    let key = |k: &str| format!("{at}.{k}");
    // A key whose value was refused still counts as given.
    let refused = KEYS.map(|k| p.refused.contains(&key(k)));
    let named: Vec<&str> = (0..3)
        .filter(|&i| given[i].is_some() || refused[i])
        .map(|i| KEYS[i])
        .collect();
    if let [first, second, ..] = named[..] {
        p.problem(
            &key(second),
            format!("is given together with {first}"),
            "keep only one of password, password_env and password_file",
        );
        return None;
    }
    if refused.contains(&true) {
        return None;
    }
    let Some((first, value)) = KEYS.into_iter().zip(given).find_map(|(k, v)| Some((k, v?))) else {
        return Some(None);
    };
    match first {
        "password" => Some(Some(Secret::new(value))),
        "password_env" => match std::env::var(&value) {
            Ok(password) => Some(Some(Secret::new(password))),
            Err(_) => {
                p.problem(
                    &key(first),
                    format!("the environment variable {value} is not set"),
                    format!("set {value} before starting listbridge, or use password_file"),
                );
                None
            }
        },
        _ => match std::fs::read_to_string(&value) {
            Ok(password) => Some(Some(Secret::new(
                password.trim_end_matches(['\r', '\n']).to_owned(),
            ))),
            Err(e) => {
                p.problem(
                    &key(first),
                    format!("{value} cannot be read: {e}"),
                    "check the path and that listbridge may read it",
                );
                None
            }
        },
    }
}

/// A section's `ca_file`: `Some(None)` when absent, `None` when it names no file (reported).
fn ca_file(p: &mut Problems, at: &str, file: Option<String>) -> Option<Option<PathBuf>> {
    let Some(file) = file else {
        return Some(None);
    };
    let path = PathBuf::from(&file);
    if path.is_file() {
        return Some(Some(path));
    }
    p.problem(
        &format!("{at}.ca_file"),
        format!("{file} is not a file"),
        "give the path of the CA certificate in PEM form, or remove the key",
    );
    None
}

/// One `[[interests]]` table; None when it has problems (all of them reported).
fn interest(p: &mut Problems, at: &str, t: Table) -> Option<(String, InterestConfig)> {
    let r: RawInterest = read(p, at, t)?;
    let key = |k: &str| format!("{at}.{k}");
    let slug = match r.slug {
        Some(s) if valid_list_name(&s) => Some(s),
        Some(s) => {
            p.problem(
                &key("slug"),
                format!("{s:?} is not a usable slug"),
                "use 1 to 64 lowercase letters, digits, '-' or '_' (it appears in web addresses: /i/asthma)",
            );
            None
        }
        None => {
            p.missing(&key("slug"), "add slug = \"asthma\"");
            None
        }
    };
    if r.name.is_none() {
        p.missing(&key("name"), "add name = \"Asthma\"");
    }
    patterns(
        p,
        &key("patterns"),
        &r.patterns,
        "correct the pattern (Rust regex syntax), or use keywords instead",
    );
    if r.keywords.is_empty() && r.patterns.is_empty() {
        p.problem(
            &key("keywords"),
            "is empty, and there are no patterns",
            "give the words and phrases that mean this interest, such as keywords = [\"asthma\", \"inhaler\"]",
        );
    }
    if p.any_under(at) {
        return None;
    }
    // A blank name drops the interest without a problem of its own (as it always has).
    let name = r
        .name
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())?;
    let slug = slug?;
    let interest = InterestConfig {
        rules: InterestRules {
            slug: slug.clone(),
            name,
            keywords: r.keywords,
            patterns: r.patterns,
        },
        description: r.description,
    };
    Some((slug, interest))
}

/// The `[outbound]` table; None when it has problems (all of them reported).
fn outbound(p: &mut Problems, (server, r): (RawServer, RawOutbound)) -> Option<OutboundConfig> {
    let key = |k: &str| format!("outbound.{k}");
    let trimmed = |s: Option<String>| s.map(|s| s.trim().to_owned());
    // [outbound] takes its host and user trimmed, [[sources]] as written.
    let server = RawServer {
        host: trimmed(server.host),
        user: trimmed(server.user),
        ..server
    };
    let server = mail_server(p, "outbound", server, &SMTP);
    let from_address = match trimmed(r.from_address) {
        Some(s) => address(p, "from_address", s, None),
        None => {
            p.missing(
                &key("from_address"),
                "add from_address = \"forum@lists.example.org\", an address at your own domain whose mail reaches the bridge's mailbox",
            );
            None
        }
    };
    let domain = from_address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.to_owned());
    let mut derived = |k: &str, given: Option<String>, placeholder: &str, local: &str| match given {
        Some(s) => address(p, k, s.trim().to_owned(), Some(placeholder)),
        None => domain.as_ref().map(|d| format!("{local}@{d}")),
    };
    let reply_address = derived("reply_address", r.reply_address, "{key}", "reply+{key}");
    let bounce_address = derived(
        "bounce_address",
        r.bounce_address,
        "{recipient}",
        "bounces+{recipient}",
    );
    if p.any_under("outbound") {
        return None;
    }
    Some(OutboundConfig {
        server: server?,
        from_address: from_address?,
        reply_address: reply_address?,
        bounce_address: bounce_address?,
        reply_key_days: r.reply_key_days,
        hard_bounce_limit: r.hard_bounce_limit,
        max_message_mb: r.max_message_mb,
        echo_wait_seconds: r.echo_wait_seconds,
    })
}

/// An `[outbound]` address, with `placeholder` in its local part when given.
fn address(p: &mut Problems, k: &str, s: String, placeholder: Option<&str>) -> Option<String> {
    let key = format!("outbound.{k}");
    if !s.contains('@') || s.contains(char::is_whitespace) {
        p.problem(
            &key,
            format!("{s:?} is not an email address"),
            "write an address such as \"forum@lists.example.org\"",
        );
        return None;
    }
    if let Some(placeholder) = placeholder
        && !s
            .split('@')
            .next()
            .unwrap_or_default()
            .contains(placeholder)
    {
        p.problem(
            &key,
            format!("{s:?} has no {placeholder} in its local part"),
            format!("write it as \"name+{placeholder}@your.domain\", an address whose mail reaches the bridge's mailbox"),
        );
        return None;
    }
    Some(s)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::{KEYS, Kind, SECTIONS};

    /// Every key of the table is read by its section's raw struct, which refuses any other
    /// (`deny_unknown_fields`): the table and the structs stay in step.
    #[test]
    fn the_raw_structs_read_every_key_of_the_table() {
        for section in SECTIONS {
            let mut t = Table::new();
            for key in KEYS.iter().filter(|k| k.section == section.name) {
                let value = match key.kind {
                    Kind::Str(_) => Value::String("x".to_owned()),
                    Kind::Bool => Value::Boolean(true),
                    Kind::Int { min, .. } => Value::Integer(min),
                    Kind::Strings { .. } => Value::Array(vec![]),
                };
                t.insert(key.name.to_owned(), value);
            }
            let mut p = Problems::default();
            let name = section.name;
            let read_all = match name {
                "store" => read::<RawStore>(&mut p, name, t).is_some(),
                "web" => read::<RawWeb>(&mut p, name, t).is_some(),
                "threading" => read::<RawThreading>(&mut p, name, t).is_some(),
                "attachments" => read::<RawAttachments>(&mut p, name, t).is_some(),
                "outbound" => read_with_server::<RawOutbound>(&mut p, name, t).is_some(),
                "lists" => read::<RawList>(&mut p, name, t).is_some(),
                "sources" => read_with_server::<RawSource>(&mut p, name, t).is_some(),
                "interests" => read::<RawInterest>(&mut p, name, t).is_some(),
                "events" => read::<RawEvents>(&mut p, name, t).is_some(),
                "privacy" => read::<RawPrivacy>(&mut p, name, t).is_some(),
                "moderation" => read::<RawModeration>(&mut p, name, t).is_some(),
                other => panic!("no raw struct for [{other}]"),
            };
            assert!(read_all, "[{name}]: {:?}", p.list);
        }
    }
}
