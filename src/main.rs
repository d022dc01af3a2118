//! The `listbridge` command: parses the command line, loads the one `Config`, and dispatches.
//! Nothing else lives here.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use listbridge::archive::pipeline::{self, ImportSummary};
use listbridge::cli::{AdminCommand, Cli, Command, ExportCommand, MembersCommand};
use listbridge::config::{Config, DEFAULT_DB};
use listbridge::mail::mbox::{MboxWriter, envelope_for_export};
use listbridge::store::{
    Actor, ErasurePolicy, Location, Role, RoleChange, Store, ThreadId, UserId,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout (`| head`) is the reader's choice, not a failure.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("listbridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "listbridge=info,warn",
        1 => "listbridge=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LISTBRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// The config file named by --config or $LISTBRIDGE_CONFIG, if any.
fn config_file(cli: &Cli) -> Option<PathBuf> {
    cli.global
        .config
        .clone()
        .or_else(|| std::env::var_os("LISTBRIDGE_CONFIG").map(PathBuf::from))
}

fn load_config(cli: &Cli) -> Result<Config> {
    match config_file(cli) {
        Some(file) => Ok(Config::load(&file)?),
        None => Ok(Config::default()),
    }
}

/// --db, else $LISTBRIDGE_DB, else the config's [store] url or path, else ./listbridge.db:
/// a PostgreSQL URL or a SQLite file.
fn db_location(cli: &Cli, config: &Config) -> Location {
    let given = cli
        .global
        .db
        .clone()
        .or_else(|| std::env::var_os("LISTBRIDGE_DB").map(PathBuf::from));
    match given {
        // A path that is not UTF-8 is no URL: a SQLite file, kept as given.
        Some(given) => match given.to_str() {
            Some(text) => Location::parse(text),
            None => Location::Sqlite(given),
        },
        None => match &config.store.url {
            Some(url) => Location::Postgres(url.clone()),
            None if config.store.path.as_os_str().is_empty() => {
                Location::Sqlite(PathBuf::from(DEFAULT_DB))
            }
            None => Location::Sqlite(config.store.path.clone()),
        },
    }
}

/// The list a roster command names, checked against the config (a typo names the lists there
/// are) and known to the archive, so a configured list nobody has written to yet has an empty
/// roster rather than "no such list".
fn roster_list(config: &Config, store: &mut Store, name: &str) -> Result<String> {
    let name = config.import_list(Some(name)).map_err(anyhow::Error::msg)?;
    store.list_id(&name)?;
    Ok(name)
}

fn open_store(cli: &Cli, config: &Config) -> Result<Store> {
    let store = Store::open(db_location(cli, config), config.derive_settings())?;
    store.seed_interests(&config.new_interests(), now_unix())?;
    Ok(store)
}

/// `listbridge show FILE`: what the archive would show for one mail.
fn show(config: &Config, file: &std::path::Path, json: bool, list: Option<&str>) -> Result<()> {
    let mut messages = listbridge::archive::readers::read_paths(&[file.to_owned()])?;
    let first = match messages.next() {
        Some(m) => m?,
        None => bail!("{} holds no message", file.display()),
    };
    if messages.next().is_some() {
        bail!(
            "{} holds more than one message; show takes a single message (.eml)",
            file.display()
        );
    }
    let list = config.import_list(list).map_err(anyhow::Error::msg)?;
    let options = config.render_options(&list);
    let Some(message) = listbridge::mail::parse::mime(&first.bytes) else {
        bail!(
            "{} cannot be parsed as mail (an import would store it raw and report it)",
            file.display()
        );
    };
    let rendered = listbridge::mail::render::render_message(&message, &options, &|_| None);
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &rendered)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "Subject: {}",
            rendered.subject.as_deref().unwrap_or("(none)")
        )?;
        writeln!(out, "From:    {}", rendered.from)?;
        writeln!(
            out,
            "Date:    {}",
            rendered.date.as_deref().unwrap_or("(none)")
        )?;
        writeln!(out, "\n{}\n", rendered.body)?;
        if !rendered.elided.is_empty() {
            writeln!(
                out,
                "[{} lines folded away: quotes, signature, footer]",
                rendered.elided.lines().count()
            )?;
        }
        for a in &rendered.attachments {
            writeln!(
                out,
                "[attachment: {} ({}, {} bytes)]",
                a.filename.as_deref().unwrap_or("unnamed"),
                a.content_type,
                a.size
            )?;
        }
    }
    Ok(())
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::CheckConfig = cli.command {
        return check_config(&cli);
    }
    let config = load_config(&cli)?;
    match &cli.command {
        Command::Import { paths, list } => {
            let list = config
                .import_list(list.as_deref())
                .map_err(anyhow::Error::msg)?;
            let mut store = open_store(&cli, &config)?;
            let render = config.render_options(&list);
            let summary = pipeline::import(&mut store, paths, &list, &render, now_unix())?;
            print_summary("imported", &summary)?;
        }
        Command::Reindex => {
            let mut store = open_store(&cli, &config)?;
            let summary =
                pipeline::reindex(&mut store, &|list| config.render_options(list), now_unix())?;
            print_summary("rebuilt", &summary)?;
        }
        Command::Migrate => {
            let store = open_store(&cli, &config)?;
            let report = store.migration();
            if report.from == report.to {
                println!(
                    "{}: schema up to date (version {})",
                    store.location(),
                    report.to
                );
            } else {
                println!(
                    "{}: schema migrated from version {} to {}",
                    store.location(),
                    report.from,
                    report.to
                );
            }
        }
        Command::Search { query, json, limit } => {
            let store = open_store(&cli, &config)?;
            let query = query.join(" ");
            let results = match store.search(&query, *limit)? {
                Ok(r) => r,
                Err(why) => bail!("{why}"),
            };
            let mut out = BufWriter::new(std::io::stdout().lock());
            if *json {
                serde_json::to_writer_pretty(&mut out, &results)?;
                writeln!(out)?;
            } else {
                writeln!(out, "{} messages match {:?}", results.total, results.query)?;
                for hit in &results.results {
                    writeln!(
                        out,
                        "{}  {:<30.30}  {}\n    <{}> thread {}",
                        hit.date.as_deref().map_or("(no date)", |d| &d[..10]),
                        hit.from,
                        hit.subject.as_deref().unwrap_or("(no subject)"),
                        hit.message_id,
                        hit.thread
                    )?;
                }
            }
            out.flush()?;
        }
        Command::Export { what } => {
            let store = open_store(&cli, &config)?;
            export(&store, what)?;
        }
        Command::Serve => {
            let settings = config.derive_settings();
            let db = db_location(&cli, &config);
            if let Location::Postgres(_) = db {
                bail!(
                    "serve runs on SQLite only for now ({db} is PostgreSQL): the web's confinement \
                     of private lists is not built for PostgreSQL yet; give --db a SQLite file"
                );
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(listbridge::daemon::serve(config, db, settings))?;
        }
        Command::Status { json } => {
            let store = open_store(&cli, &config)?;
            let statuses = store.source_statuses(now_unix())?;
            let outbox = store.outbox_counts()?;
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(
                    &mut out,
                    &serde_json::json!({ "sources": statuses, "outbox": outbox }),
                )?;
                writeln!(out)?;
            } else if statuses.is_empty() {
                writeln!(
                    out,
                    "no IMAP source has run yet (configure [[sources]] and start `listbridge serve`)"
                )?;
            }
            for s in statuses.iter().filter(|_| !*json) {
                let ago = |t: i64| format!("{} s ago", now_unix() - t);
                writeln!(out, "{}: {} (for {})", s.source, s.state, ago(s.since))?;
                writeln!(
                    out,
                    "  last sync:      {}",
                    s.last_sync.map_or("never".to_owned(), ago)
                )?;
                writeln!(out, "  messages today: {}", s.messages_today)?;
                if let Some(lag) = s.lag_seconds {
                    writeln!(
                        out,
                        "  median lag:     {lag} s (from the mail's Date to the archive)"
                    )?;
                }
                if let Some(e) = &s.last_error {
                    writeln!(
                        out,
                        "  last error:     {e} ({}{})",
                        s.last_error_at.map_or(String::new(), ago),
                        if s.permanent { "; needs an admin" } else { "" }
                    )?;
                }
            }
            if !*json {
                writeln!(
                    out,
                    "outbox: {} queued, {} sending, {} sent, {} failed, {} paused (bouncing addresses)",
                    outbox.queued, outbox.sending, outbox.sent, outbox.failed, outbox.paused
                )?;
            }
        }
        Command::Demo { listen } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(listbridge::daemon::demo(*listen))?;
        }
        Command::Show { file, json, list } => show(&config, file, *json, list.as_deref())?,
        Command::Admin(AdminCommand::Create { email, name }) => {
            let email = email.trim().to_lowercase();
            if !email.contains('@') || email.contains(char::is_whitespace) {
                bail!(
                    "{email:?} is not an email address: give the admin's address, such as jane.doe@nhs.net"
                );
            }
            let mut store = open_store(&cli, &config)?;
            let now = now_unix();
            let (user, created) = store.create_user(name, &email, Role::Admin, now)?;
            store.set_role(user, Role::Admin)?;
            let token = listbridge::tokens::new_token();
            store.create_sign_in_link(
                &listbridge::tokens::hash(&token),
                &email,
                None,
                now,
                now + 3600,
            )?;
            println!(
                "{} {email} (member {}) is an admin.\nSign in within an hour at:\n{}/signin/{token}",
                if created { "created:" } else { "updated:" },
                user.0,
                config.web.base_url
            );
        }
        Command::Members(MembersCommand::Import { file, list }) => {
            // A roster is for a list the config knows: a typo must not make a new list.
            if let Some(name) = list {
                config.import_list(Some(name)).map_err(anyhow::Error::msg)?;
            }
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read the roster {}", file.display()))?
            };
            let mut entries = Vec::new();
            let mut problems = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                match listbridge::mail::address::parse_roster_line(line) {
                    Some(entry) => entries.push(entry),
                    None => {
                        problems.push(format!("line {}: {line:?} has no usable address", n + 1))
                    }
                }
            }
            if !problems.is_empty() {
                bail!(
                    "the roster has problems (nothing was added):\n  {}",
                    problems.join("\n  ")
                );
            }
            let mut store = open_store(&cli, &config)?;
            let added = store.import_members(&entries, now_unix())?;
            println!(
                "{added} members added, {} already known",
                entries.len() - added
            );
            if let Some(list) = list {
                let addresses: Vec<String> = entries.iter().map(|(_, a)| a.clone()).collect();
                let on = store.add_list_members(list, &addresses, now_unix())?;
                println!(
                    "{on} addresses put on the roster of {list}, {} were on it",
                    addresses.len() - on
                );
            }
        }
        Command::Members(MembersCommand::Remove { list, addresses }) => {
            let mut store = open_store(&cli, &config)?;
            let list = roster_list(&config, &mut store, list)?;
            let removed = store.remove_list_members(&list, addresses)?;
            println!(
                "{removed} addresses taken off the roster of {list}, {} were not on it",
                addresses.len() - removed
            );
        }
        Command::Members(MembersCommand::Role { address, role }) => {
            let mut store = open_store(&cli, &config)?;
            let role = Role::parse(role).expect("clap allows only the three roles");
            let Some(user) = store.user_by_email(&address.trim().to_lowercase())? else {
                bail!(
                    "no member has the address {address}: they join at the forum's sign-in page, \
                     or `listbridge members import` adds them"
                );
            };
            match store.change_role(user, role, None, now_unix())? {
                RoleChange::Changed { from } => println!(
                    "member {} ({address}) is now {} (was {})",
                    user.0,
                    role.as_str(),
                    from.as_str()
                ),
                RoleChange::Unchanged(r) => {
                    println!("member {} ({address}) is {} already", user.0, r.as_str())
                }
                RoleChange::LastAdmin => {
                    bail!("{address} is the only admin: make another member an admin first")
                }
                RoleChange::NoSuchMember => bail!("no member has the address {address}"),
            }
        }
        Command::Members(MembersCommand::Resume { address }) => {
            let mut store = open_store(&cli, &config)?;
            let when = |t: i64| {
                chrono::DateTime::from_timestamp(t, 0).map_or_else(
                    || t.to_string(),
                    |d| d.format("%Y-%m-%d %H:%M UTC").to_string(),
                )
            };
            let Some(b) = store.resume_delivery(address)? else {
                bail!("{address} has never bounced: there is nothing to resume");
            };
            println!(
                "{}: {} hard and {} soft bounces, the last on {}",
                b.address,
                b.hard,
                b.soft,
                when(b.last_at)
            );
            match b.paused_at {
                Some(at) => println!(
                    "delivery was paused on {}; resumed ({} mails set aside while paused are not sent)",
                    when(at),
                    b.held_back
                ),
                None => bail!("delivery to {} is not paused: nothing changed", b.address),
            }
        }
        Command::Members(MembersCommand::List { list }) => {
            let mut store = open_store(&cli, &config)?;
            let list = roster_list(&config, &mut store, list)?;
            for address in store.list_members(&list)? {
                println!("{address}");
            }
        }
        Command::Retag { json } => {
            let mut store = open_store(&cli, &config)?;
            let tagger = store.tagger()?;
            let report = store.retag(&tagger, &|raw, list| {
                let message = listbridge::mail::parse::mime(raw)?;
                let rendered = listbridge::mail::render::render_message(
                    &message,
                    &config.render_options(list),
                    &|_| None,
                );
                Some((rendered.subject.unwrap_or_default(), rendered.body))
            })?;
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                writeln!(out, "retagged {} messages", report.messages)?;
                for c in &report.interests {
                    writeln!(
                        out,
                        "  {}: {} threads (was {}; +{} -{})",
                        c.interest, c.threads_after, c.threads_before, c.gained, c.lost
                    )?;
                }
            }
        }
        Command::Digests { all } => {
            if config.outbound.is_none() {
                bail!(
                    "digests are mail: the config needs an [outbound] section (see config.toml.example)"
                );
            }
            let mut store = open_store(&cli, &config)?;
            let started = std::time::Instant::now();
            let n = listbridge::outbound::digest::send_due(&mut store, &config, now_unix(), *all)?;
            println!(
                "{n} digests queued in {:.2} s (`listbridge serve` sends them)",
                started.elapsed().as_secs_f64()
            );
        }
        Command::Erase {
            address,
            member,
            reason,
        } => {
            let target = match (address, member) {
                (Some(address), _) => listbridge::forum::erasure::Target::Address(address.clone()),
                (None, Some(id)) => listbridge::forum::erasure::Target::Member(UserId(*id)),
                (None, None) => unreachable!("clap requires one of them"),
            };
            let mut store = open_store(&cli, &config)?;
            let done = listbridge::forum::erasure::erase(
                &mut store,
                &config,
                &target,
                Actor::Cli,
                reason.as_deref(),
                now_unix(),
            )?;
            println!(
                "erased (audit entry {}, policy {}): {} messages {}, {} further copies and {} attachments deleted, {} other rows deleted",
                done.erasure.0,
                done.policy.as_str(),
                done.counts.messages,
                match done.policy {
                    ErasurePolicy::Redact => "redacted",
                    ErasurePolicy::Remove => "removed",
                },
                done.counts.copies,
                done.counts.attachments,
                done.counts.other_rows
            );
        }
        Command::Purge {
            message_id,
            reason,
            keep_subject,
        } => {
            let Some(id) = listbridge::forum::erasure::message_id_from(message_id) else {
                bail!(
                    "{message_id:?} is not a Message-ID: give it as in the message's permanent link (/m/ID)"
                );
            };
            if reason.trim().is_empty() {
                bail!("give a reason with --reason, for the audit log");
            }
            let mut store = open_store(&cli, &config)?;
            let done = listbridge::forum::erasure::purge(
                &mut store,
                &config,
                &id,
                *keep_subject,
                Actor::Cli,
                reason,
                now_unix(),
            )?;
            println!(
                "purged <{id}> (audit entry {}, policy {}): {} further copies and {} attachments deleted",
                done.erasure.0,
                done.policy.as_str(),
                done.counts.copies,
                done.counts.attachments
            );
        }
        Command::Erasures { json, limit } => {
            let store = open_store(&cli, &config)?;
            let entries = store.erasures(*limit)?;
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(
                    &mut out,
                    &serde_json::json!({ "erasures": entries }),
                )?;
                writeln!(out)?;
            } else if entries.is_empty() {
                writeln!(out, "no erasures or purges yet")?;
            }
            for e in entries.iter().filter(|_| !*json) {
                let when = chrono::DateTime::from_timestamp(e.at, 0)
                    .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default();
                let who = match (e.actor.as_str(), e.actor_user) {
                    ("admin", Some(id)) => format!("admin (member {id})"),
                    (actor, _) => actor.to_owned(),
                };
                writeln!(
                    out,
                    "#{} {when}  {} by {who}, policy {}: {} messages, {} copies, {} attachments, {} other rows",
                    e.id.0,
                    e.kind,
                    e.policy,
                    e.counts.messages,
                    e.counts.copies,
                    e.counts.attachments,
                    e.counts.other_rows
                )?;
                writeln!(
                    out,
                    "    {}: {}",
                    if e.kind == "message" {
                        "message"
                    } else {
                        "addresses (SHA-256)"
                    },
                    e.target
                )?;
                if let Some(reason) = &e.reason {
                    writeln!(out, "    reason: {reason}")?;
                }
            }
        }
        Command::CheckConfig => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn export(store: &Store, what: &ExportCommand) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match what {
        ExportCommand::Mbox { list, thread } => {
            let list = list.as_deref().map(|l| store.find_list(l)).transpose()?;
            let thread = thread.map(ThreadId);
            if let Some(t) = thread
                && !store.thread_exists(t)?
            {
                bail!(
                    "no thread {} in the archive (see `listbridge export threads --json`)",
                    t.0
                );
            }
            let mut mbox = MboxWriter::new(&mut out);
            store.for_each_raw(list, thread, |raw| {
                let envelope = envelope_for_export(raw.envelope.as_deref());
                Ok(mbox.write(&envelope, &raw.bytes)?)
            })?;
            mbox.finish()?;
        }
        ExportCommand::Threads { json: _, list } => {
            let list = list.as_deref().map(|l| store.find_list(l)).transpose()?;
            let mut first = true;
            out.write_all(b"{\"threads\": [")?;
            store.for_each_thread(list, |thread| {
                out.write_all(if first { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut out, &thread).map_err(std::io::Error::from)?;
                first = false;
                Ok(())
            })?;
            out.write_all(b"\n]}\n")?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}

fn print_summary(verb: &str, s: &ImportSummary) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{verb} {} new messages from {} read in {:.1} s ({:.0}/s)",
        s.imported,
        s.read,
        s.seconds,
        s.read as f64 / s.seconds.max(0.001)
    )?;
    writeln!(out, "  duplicates:       {}", s.duplicates)?;
    if s.already_archived > 0 {
        writeln!(out, "  already archived: {}", s.already_archived)?;
    }
    if s.erased > 0 {
        writeln!(out, "  erased earlier, not stored again: {}", s.erased)?;
    }
    if s.renamed > 0 {
        writeln!(
            out,
            "  kept under a derived id (a different message with a taken Message-ID): {}",
            s.renamed
        )?;
    }
    if s.hidden > 0 {
        writeln!(
            out,
            "  hidden by moderators: {} (stored raw, not shown)",
            s.hidden
        )?;
    }
    writeln!(
        out,
        "  unparseable:      {} (stored raw)",
        s.unparseable.len()
    )?;
    for p in &s.unparseable {
        writeln!(out, "    {}: {}", p.origin, p.reason)?;
    }
    if !s.read_errors.is_empty() {
        writeln!(out, "  unreadable input: {}", s.read_errors.len())?;
        for e in &s.read_errors {
            writeln!(out, "    {e}")?;
        }
    }
    if s.skipped_files > 0 {
        writeln!(
            out,
            "  skipped: {} files in the folders that are not mail",
            s.skipped_files
        )?;
    }
    if s.unsplit_separators > 0 {
        writeln!(
            out,
            "  fewer messages than separator lines: {} lines shaped like \"From \" separators \
             were read as message text (no header line after them)",
            s.unsplit_separators
        )?;
    }
    writeln!(out, "  threads in the archive: {}", s.threads)?;
    Ok(())
}

fn check_config(cli: &Cli) -> Result<ExitCode> {
    let Some(file) = config_file(cli) else {
        println!(
            "no config file given (--config FILE or LISTBRIDGE_CONFIG): the built-in defaults are used, \
             database {}",
            db_location(cli, &Config::default())
        );
        return Ok(ExitCode::SUCCESS);
    };
    match Config::load(&file) {
        Ok(config) => {
            println!(
                "{}: OK; database {}; lists: {}",
                file.display(),
                db_location(cli, &config),
                if config.lists.is_empty() {
                    "none (imports go to \"main\")".to_owned()
                } else {
                    config
                        .lists
                        .iter()
                        .map(|l| l.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprint!("{errors}");
            Ok(ExitCode::from(2))
        }
    }
}
