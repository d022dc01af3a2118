//! The one table of configuration keys: every section and key with its type, the example its
//! fix shows, and its default. The table drives the first pass over a config file (unknown
//! keys, wrong types and numbers out of range, each reported under its dotted key) and fills
//! in the defaults, so the typed sections read afterwards hold only values of the right type.
//! A test checks that `config.toml.example` shows every key listed here.

use std::collections::HashMap;

use toml::{Table, Value};

use super::validate::Problems;
use Kind::{Bool, Str};

/// What a key holds.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// A string; the example a fix shows (`write EXAMPLE, in quotes`).
    Str(&'static str),
    Bool,
    /// A whole number within bounds; the example a fix shows.
    Int {
        min: i64,
        max: i64,
        example: &'static str,
    },
    /// A list of strings: the fix when it is not a list, and what each item is.
    Strings {
        fix: &'static str,
        item: &'static str,
    },
}

/// One key of a section.
pub(super) struct Key {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    /// The value taken when the key is absent, as TOML; None when the key is required, its
    /// default depends on other keys, or its absence means "none".
    pub default: Option<&'static str>,
}

/// A top-level section: a `[table]`, or a `[[list]]` of tables (`item` names one of them).
pub(super) struct Section {
    pub name: &'static str,
    pub item: Option<&'static str>,
    /// An optional `[table]` stays absent when the file has none (no defaults filled in).
    pub optional: bool,
}

pub(super) const SECTIONS: &[Section] = &[
    table("store"),
    table("web"),
    table("threading"),
    table("attachments"),
    Section {
        name: "outbound",
        item: None,
        optional: true,
    },
    list("lists", "list"),
    list("sources", "source"),
    list("interests", "interest"),
    table("events"),
    table("privacy"),
    table("moderation"),
];

const fn table(name: &'static str) -> Section {
    Section {
        name,
        item: None,
        optional: false,
    }
}

const fn list(name: &'static str, item: &'static str) -> Section {
    Section {
        name,
        item: Some(item),
        optional: false,
    }
}

const fn key(
    section: &'static str,
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
) -> Key {
    Key {
        section,
        name,
        kind,
        default,
    }
}

const fn int(min: i64, max: i64, example: &'static str) -> Kind {
    Kind::Int { min, max, example }
}

const fn strings(fix: &'static str, item: &'static str) -> Kind {
    Kind::Strings { fix, item }
}

const REGEXES: &str = "a regular expression";
const TLS: Kind = Str("\"implicit\", \"starttls\" or \"plain\"");
const PASSWORD: Kind = Str("the password, in quotes");
const PASSWORD_ENV: Kind = Str("an environment variable name");
const PASSWORD_FILE: Kind = Str("a file path");
const CA_FILE: Kind = Str("a PEM file path");

/// Every key, section by section, in the order a fix lists them: one row each.
#[rustfmt::skip]
pub(super) const KEYS: &[Key] = &[
    key("store", "path", Str("a file path such as \"/var/lib/listbridge/archive.db\""), Some("\"listbridge.db\"")),
    // Default: none (the SQLite file at `path`).
    key("store", "url", Str("a PostgreSQL URL such as \"postgres://listbridge@localhost/listbridge\""), None),
    key("web", "listen", Str("an address and port such as \"127.0.0.1:8080\""), Some("\"127.0.0.1:8080\"")),
    key("web", "site_name", Str("a name such as \"SNUG forum\""), Some("\"listbridge\"")),
    // Default: http://<listen>.
    key("web", "base_url", Str("the forum's public address such as \"https://forum.example.org\""), None),
    key("web", "hide_addresses", Bool, Some("true")),
    // Default: none (the connection's own address is the client's).
    key("web", "client_address_header", Str("a header set by your reverse proxy, such as \"X-Forwarded-For\""), None),
    key("web", "cache_mb", int(1, 4096, "a size in megabytes such as 24"), Some("24")),
    key("threading", "subject_fallback", Bool, Some("true")),
    key("threading", "subject_window_days", int(0, 3650, "a number of days such as 30"), Some("30")),
    key("attachments", "max_size_mb", int(1, 1024, "a size in megabytes such as 25"), Some("25")),
    key("outbound", "host", Str("\"smtp.example.org\""), Some("\"127.0.0.1\"")),
    // Default: 465 for implicit TLS, 587 for STARTTLS, 25 for plain.
    key("outbound", "port", int(1, 65535, "a port such as 587"), None),
    // Default: plain to a loopback host, else STARTTLS.
    key("outbound", "tls", TLS, None),
    key("outbound", "user", Str("\"bridge@example.org\""), None),
    key("outbound", "password", PASSWORD, None),
    key("outbound", "password_env", PASSWORD_ENV, None),
    key("outbound", "password_file", PASSWORD_FILE, None),
    key("outbound", "ca_file", CA_FILE, None),
    key("outbound", "from_address", Str("\"forum@lists.example.org\""), None),
    // Default: reply+{key}@<from_address's domain>.
    key("outbound", "reply_address", Str("\"reply+{key}@lists.example.org\""), None),
    // Default: bounces+{recipient}@<from_address's domain>.
    key("outbound", "bounce_address", Str("\"bounces+{recipient}@lists.example.org\""), None),
    key("outbound", "reply_key_days", int(1, 3650, "a number of days such as 365"), Some("365")),
    key("outbound", "hard_bounce_limit", int(1, 100, "a count such as 3"), Some("3")),
    key("outbound", "max_message_mb", int(1, 1024, "a size in megabytes such as 25"), Some("25")),
    key("outbound", "echo_wait_seconds", int(1, 7 * 86_400, "a number of seconds such as 1800"), Some("1800")),
    key("lists", "name", Str("a short name such as \"snug\""), None),
    key("lists", "address", Str("an address such as \"snug@lists.example.org\""), None),
    key("lists", "description", Str("a sentence"), None),
    key("lists", "subject_tag", Str("the tag as it appears in subjects, such as \"[SNUG]\""), None),
    key("lists", "footer_patterns", strings("write a list of regular expressions, such as [\"^To unsubscribe\"]", REGEXES), Some("[]")),
    key("lists", "mode", Str("\"mirror\" or \"host\""), Some("\"mirror\"")),
    key("lists", "unknown_senders", Str("\"refuse\" or \"hold\""), Some("\"refuse\"")),
    key("lists", "posts_per_hour", int(0, 100_000, "a number such as 30"), Some("30")),
    key("lists", "private", Bool, Some("false")),
    key("sources", "name", Str("\"snug-inbox\""), None),
    key("sources", "list", Str("a list name such as \"snug\""), Some("\"main\"")),
    key("sources", "host", Str("\"imap.example.org\""), None),
    // Default: 993 for implicit TLS, else 143.
    key("sources", "port", int(1, 65535, "a port such as 993"), None),
    key("sources", "tls", TLS, Some("\"implicit\"")),
    key("sources", "user", Str("\"bridge@example.org\""), None),
    key("sources", "password", PASSWORD, None),
    key("sources", "password_env", PASSWORD_ENV, None),
    key("sources", "password_file", PASSWORD_FILE, None),
    key("sources", "mailbox", Str("a mailbox name such as \"INBOX\""), Some("\"INBOX\"")),
    key("sources", "ca_file", CA_FILE, None),
    key("sources", "poll_seconds", int(5, 86_400, "a number of seconds such as 60"), Some("60")),
    key("sources", "delete_after_import", Bool, Some("false")),
    key("interests", "slug", Str("a short name such as \"asthma\""), None),
    key("interests", "name", Str("a name such as \"Asthma\""), None),
    key("interests", "description", Str("a sentence"), None),
    key("interests", "keywords", strings("write a list such as [\"asthma\", \"inhaler\"]", "a word or phrase"), Some("[]")),
    key("interests", "patterns", strings("write a list such as [\"\\\\bpeak flow\\\\b\"]", "a word or phrase"), Some("[]")),
    key("events", "time_zone", Str("a zone name such as \"Europe/London\""), Some("\"Europe/London\"")),
    key("events", "reminder_hours", int(0, 24 * 14, "a number of hours such as 24"), Some("24")),
    key("events", "organisers", Str("\"moderators\" or \"members\""), Some("\"moderators\"")),
    key("privacy", "hold_patterns", strings("write a list of regular expressions, such as [\"(?i)\\\\bMRN:? ?[0-9]{7}\\\\b\"]", REGEXES), Some("[]")),
    key("privacy", "erasure", Str("\"redact\" or \"remove\""), Some("\"redact\"")),
    key("moderation", "hide_after_flags", int(0, 1000, "a number of members such as 3 (0: never)"), Some("3")),
];

/// The keys of one section.
pub(super) fn keys_of(section: &str) -> impl Iterator<Item = &'static Key> {
    KEYS.iter().filter(move |k| k.section == section)
}

/// A config file after the first pass: only known keys, each of the right type, defaults
/// filled in.
#[derive(Default)]
pub(super) struct Checked {
    /// The `[table]` sections: every one that is not optional, whether the file has it or not.
    pub tables: HashMap<&'static str, Table>,
    /// The tables of each `[[list]]` section, with their dotted paths (`lists[1]`).
    pub items: HashMap<&'static str, Vec<(String, Table)>>,
}

/// The first pass: reports unknown keys and values of the wrong type (all of them, in the
/// file's key order), keeps the rest and fills in the defaults.
pub(super) fn check(file: Table, p: &mut Problems) -> Checked {
    let mut c = Checked::default();
    for (name, value) in file {
        let Some(section) = SECTIONS.iter().find(|s| s.name == name) else {
            p.unknown(&name, SECTIONS.iter().map(|s| s.name));
            continue;
        };
        match (section.item, value) {
            (None, Value::Table(t)) => {
                let t = section_keys(section.name, &name, t, p);
                c.tables.insert(section.name, t);
            }
            (Some(_), Value::Array(items)) => {
                let kept = c.items.entry(section.name).or_default();
                for (i, item) in items.into_iter().enumerate() {
                    let at = format!("{name}[{i}]");
                    match item {
                        Value::Table(t) => {
                            let t = section_keys(section.name, &at, t, p);
                            kept.push((at, t));
                        }
                        other => p.refuse(
                            &at,
                            format!("is {}, not a table", kind(&other)),
                            format!("write it as a [{at}] section"),
                        ),
                    }
                }
            }
            (None, other) => p.refuse(
                &name,
                format!("is {}, not a table", kind(&other)),
                format!("write it as a [{name}] section"),
            ),
            (Some(item), other) => p.refuse(
                &name,
                format!("is {}, not a list of tables", kind(&other)),
                format!("write each {item} as a [[{name}]] section"),
            ),
        }
    }
    for section in SECTIONS {
        if section.item.is_none() && !section.optional && !c.tables.contains_key(section.name) {
            let t = section_keys(section.name, section.name, Table::new(), p);
            c.tables.insert(section.name, t);
        }
    }
    c
}

/// The keys of one section's table at `at`: known ones of the right type, and the defaults.
fn section_keys(section: &str, at: &str, t: Table, p: &mut Problems) -> Table {
    let mut kept = Table::new();
    for (name, value) in t {
        let path = format!("{at}.{name}");
        match keys_of(section).find(|k| k.name == name) {
            Some(key) => {
                if let Some(value) = typed(key.kind, &path, value, p) {
                    kept.insert(name, value);
                }
            }
            None => p.unknown(&path, keys_of(section).map(|k| k.name)),
        }
    }
    for key in keys_of(section) {
        if let Some(default) = key.default
            && !kept.contains_key(key.name)
        {
            kept.insert(key.name.to_owned(), literal(default));
        }
    }
    kept
}

/// The value when it is of the key's type; else None, with the problem reported.
fn typed(kind_of: Kind, path: &str, value: Value, p: &mut Problems) -> Option<Value> {
    match (kind_of, &value) {
        (Str(_), Value::String(_)) | (Bool, Value::Boolean(_)) => Some(value),
        (Str(example), _) => {
            p.refuse(
                path,
                format!("is {}, not a string", kind(&value)),
                format!("write {example}, in quotes"),
            );
            None
        }
        (Bool, _) => {
            p.refuse(
                path,
                format!("is {}, not true/false", kind(&value)),
                "write true or false, without quotes",
            );
            None
        }
        (Kind::Int { min, max, .. }, Value::Integer(n)) if (min..=max).contains(n) => Some(value),
        (Kind::Int { min, max, example }, Value::Integer(n)) => {
            p.refuse(
                path,
                format!("{n} is out of range"),
                format!("use {example}, between {min} and {max}"),
            );
            None
        }
        (Kind::Int { example, .. }, _) => {
            p.refuse(
                path,
                format!("is {}, not a whole number", kind(&value)),
                format!("write {example}, without quotes"),
            );
            None
        }
        (Kind::Strings { item, .. }, Value::Array(items)) => {
            // Each other item is reported, and stands as "" so that the later items keep
            // their index in what is reported of them.
            let strings = items
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    typed(Str(item), &format!("{path}[{j}]"), v.clone(), p)
                        .unwrap_or_else(|| Value::String(String::new()))
                })
                .collect();
            Some(Value::Array(strings))
        }
        (Kind::Strings { fix, .. }, _) => {
            p.refuse(path, format!("is {}, not a list", kind(&value)), fix);
            None
        }
    }
}

/// A default, written as TOML in the table.
fn literal(toml: &str) -> Value {
    let mut t: Table = format!("v = {toml}")
        .parse()
        .expect("the defaults in the key table are TOML");
    t.remove("v").expect("the default is there")
}

/// What a value is, in an admin's words.
pub(super) fn kind(value: &Value) -> &'static str {
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
