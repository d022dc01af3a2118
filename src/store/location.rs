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

/// For the test suites: a new, empty archive for one test, the SQLite file `dir/NAME.db`, or,
/// when `LISTBRIDGE_TEST_ENGINE=postgres`, a database of its own on the PostgreSQL test
/// cluster that `LISTBRIDGE_PG` names (`scripts/pgrig`). Panics, saying what to do, when that
/// cluster is not there.
#[doc(hidden)]
pub fn fresh_for_tests(dir: &Path, name: &str) -> Location {
    match std::env::var("LISTBRIDGE_TEST_ENGINE").as_deref() {
        Ok("sqlite") | Err(_) => return Location::Sqlite(dir.join(format!("{name}.db"))),
        Ok("postgres") => {}
        Ok(other) => panic!("LISTBRIDGE_TEST_ENGINE is {other:?}: say sqlite or postgres"),
    }
    static DATABASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let admin = std::env::var("LISTBRIDGE_PG").unwrap_or_else(|_| {
        panic!(
            "LISTBRIDGE_TEST_ENGINE=postgres needs LISTBRIDGE_PG: start a private PostgreSQL with \
             `scripts/pgrig start DIR` and export the LISTBRIDGE_PG line of DIR/pg.env"
        )
    });
    let database = format!(
        "lb_{}_{}_{}",
        name.to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        DATABASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
    // One statement each: neither may run inside the transaction a batch would be.
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .and_then(|()| client.batch_execute(&format!("CREATE DATABASE {database}")))
        .expect("a test database");
    let (server, _) = admin.rsplit_once('/').expect("a URL ending in /dbname");
    Location::Postgres(format!("{server}/{database}"))
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
