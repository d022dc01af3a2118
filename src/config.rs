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
    pub lists: Vec<ListConfig>,
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

#[derive(Debug, Clone, PartialEq)]
pub struct ListConfig {
    /// `[[lists]] name`: short name used by `--list` and in URLs.
    pub name: String,
    /// `[[lists]] address`: the list's posting address.
    pub address: Option<String>,
    /// `[[lists]] description`
    pub description: Option<String>,
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
            lists: Vec::new(),
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
                "lists" => {
                    let Some(items) = value.as_array() else {
                        v.problem(
                            "lists",
                            format!("is {}, not a list of tables", kind(value)),
                            "write each list as a [[lists]] section",
                        );
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        let at = format!("lists[{i}]");
                        let Some(t) = v.table(&at, item) else {
                            continue;
                        };
                        let mut list = ListConfig {
                            name: String::new(),
                            address: None,
                            description: None,
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
                                _ => v.unknown(&path, &["name", "address", "description"]),
                            }
                        }
                        if !t.contains_key("name") {
                            v.problem(
                                &format!("{at}.name"),
                                "is missing".to_owned(),
                                "give every [[lists]] a name, such as name = \"snug\"",
                            );
                        } else if !list.name.is_empty() {
                            if config.lists.iter().any(|l| l.name == list.name) {
                                v.problem(
                                    &format!("{at}.name"),
                                    format!("{:?} is used by an earlier list", list.name),
                                    "give each list its own name",
                                );
                            } else {
                                config.lists.push(list);
                            }
                        }
                    }
                }
                _ => v.unknown(key, &["store", "threading", "lists"]),
            }
        }
        if v.problems.is_empty() {
            Ok(config)
        } else {
            Err(v.problems)
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
        ] {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(key)),
                "config.toml.example does not show {key}"
            );
        }
    }
}
