//! Where the archive lives: a SQLite file (the default) or a PostgreSQL database, as given by
//! `--db`, `LISTBRIDGE_DB` or the config's `[store]`. Shown in messages with any password
//! masked.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://user[:password]@host[:port]/dbname[?options]`.
    Postgres(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL is PostgreSQL; `sqlite:PATH` and any other text
    /// is a SQLite file.
    pub fn parse(given: &str) -> Location {
        let lower = given.get(..13).unwrap_or(given).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Location::Postgres(given.to_owned());
        }
        let path = given
            .strip_prefix("sqlite://")
            .or_else(|| given.strip_prefix("sqlite:"));
        Location::Sqlite(PathBuf::from(path.unwrap_or(given)))
    }

    /// The SQLite file, if that is where the archive is.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&masked(url)),
        }
    }
}

/// The URL with the password of its user part replaced by `***`.
fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _password)) => format!("{scheme}://{name}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Location {
        Location::Sqlite(path.to_owned())
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::Sqlite(path)
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Location {
        Location::Sqlite(path.clone())
    }
}

impl From<&Location> for Location {
    fn from(at: &Location) -> Location {
        at.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_anything_else_a_sqlite_file() {
        let pg = "postgres://bridge:s3cret@db.example.org:5433/forum?sslmode=require";
        assert_eq!(Location::parse(pg), Location::Postgres(pg.to_owned()));
        assert_eq!(
            Location::parse("postgresql://db/forum"),
            Location::Postgres("postgresql://db/forum".to_owned())
        );
        assert_eq!(
            Location::parse("sqlite:/var/lib/a.db"),
            Location::from(Path::new("/var/lib/a.db"))
        );
        assert_eq!(
            Location::parse("sqlite://a.db"),
            Location::from(Path::new("a.db"))
        );
        assert_eq!(
            Location::parse("listbridge.db"),
            Location::from(Path::new("listbridge.db"))
        );
    }

    #[test]
    fn a_password_is_never_shown() {
        let shown = Location::parse("postgres://bridge:s3cret@db:5433/forum").to_string();
        assert_eq!(shown, "postgres://bridge:***@db:5433/forum");
        assert_eq!(
            Location::parse("postgres://bridge@db/forum").to_string(),
            "postgres://bridge@db/forum"
        );
        // A password holding an `@` is masked whole.
        assert_eq!(
            Location::parse("postgres://a:p@ss@db/x").to_string(),
            "postgres://a:***@db/x"
        );
    }
}
