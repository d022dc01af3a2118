//! The command line (clap). The doc comments here are the `--help` text; the commands and flags
//! are a stable surface that outside scripts rely on.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// listbridge: a mailing list's archive as a searchable, threaded forum, without taking email
/// away from anyone.
#[derive(Debug, Parser)]
#[command(name = "listbridge", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The database file. Default: $LISTBRIDGE_DB, else the config's [store] path, else
    /// ./listbridge.db.
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// The config file (TOML; see config.toml.example). Default: $LISTBRIDGE_CONFIG, else none
    /// (built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log more (repeat for more detail). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import archived mail: mbox (mboxo or mboxrd), .gz, Maildir, Mailman pipermail .txt(.gz),
    /// single .eml files, and folders of these, recursively. Importing the same mail again adds
    /// nothing; an interrupted import can simply be run again.
    Import {
        /// Files or folders to import.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// The list the mail belongs to (default: the first [[lists]] in the config, else "main").
        #[arg(long, value_name = "NAME")]
        list: Option<String>,
    },
    /// The daemon: keeps the archive in step with the configured IMAP sources (IDLE, or polling
    /// where the server has no IDLE) and answers /healthz. Stops cleanly on SIGTERM or Ctrl-C.
    Serve,
    /// A working forum with the bundled sample archive, in a temporary database, on
    /// http://127.0.0.1:8080 (nothing else needed). Ctrl-C stops it and removes the database.
    Demo {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDRESS:PORT")]
        listen: std::net::SocketAddr,
    },
    /// How each IMAP source is doing: state, last sync, messages today, lag, last error.
    Status {
        /// Write the statuses as JSON to stdout.
        #[arg(long)]
        json: bool,
    },
    /// What the archive will show for one mail: subject, from, date, message_id, body (the
    /// author's new text), elided (what is folded away), html (sanitised), attachments, tags.
    Show {
        /// A file holding one message (.eml).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Write the result as JSON to stdout.
        #[arg(long)]
        json: bool,
        /// Render by this list's rules (subject tag, footer patterns).
        #[arg(long, value_name = "NAME")]
        list: Option<String>,
    },
    /// Export from the archive, to stdout.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Search the archive: words, "exact phrases", -excluded words, from:, list:, subject:,
    /// after:YYYY[-MM[-DD]], before:YYYY[-MM[-DD]].
    Search {
        /// The query. Quote a query with exclusions so they are not taken for flags:
        /// listbridge search 'inhaler -spacer'.
        #[arg(required = true, value_name = "QUERY")]
        query: Vec<String>,
        /// Write {"query", "total", "results": [...]} as JSON to stdout.
        #[arg(long)]
        json: bool,
        /// The most results to show.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
    },
    /// Rebuild every derived table (messages, threads, search index) from the raw store.
    Reindex,
    /// Bring the database schema up to date (other commands do it too) and say what was done.
    Migrate,
    /// Check a config file and report every problem at once, each with its key and the fix.
    CheckConfig,
    /// Apply the interests' current rules to the whole archive (after editing them) and say,
    /// per interest, how many threads gained and lost it. Hand-set tags stay as they are.
    Retag {
        /// Write the report as JSON to stdout.
        #[arg(long)]
        json: bool,
    },
    /// Queue the digests that are due now (`serve` does this every minute); with --all, every
    /// member's digest of what they have not seen since their last one, due or not.
    Digests {
        #[arg(long)]
        all: bool,
    },
    /// Erase a member's account and their archived mail, or an address's mail.
    ///
    /// For an address no member has verified: the mail sent from it and what the forum logged
    /// about it. By the config's [privacy] erasure policy: "redact" (default) leaves each
    /// message in its thread as a short notice under a pseudonym, "remove" takes it out
    /// entirely. Raw mail, search index, attachments no other message carries, sessions,
    /// preferences, likes, queued mail and logs go too; an audit entry (without the content or
    /// the address) records it. Erased mail is not archived again by a later import or fetch.
    #[command(group(clap::ArgGroup::new("whom").required(true).args(["address", "member"])))]
    Erase {
        /// The address: its member's whole account when one has verified it.
        #[arg(long, value_name = "ADDRESS")]
        address: Option<String>,
        /// The member's number (as in their profile's address, /u/NUMBER).
        #[arg(long, value_name = "NUMBER")]
        member: Option<i64>,
        /// Why, for the audit log (do not write the person's name or address here).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Purge one message from the archive, with a reason for the audit log.
    ///
    /// By the config's [privacy] erasure policy: its text, attachments and raw mail are
    /// replaced by a short notice ("redact", the default; its author and place in the thread
    /// stay) or it is removed entirely ("remove"). The audit log records the Message-ID, who
    /// and why, never the content.
    Purge {
        /// The Message-ID (with or without angle brackets), or the message's permanent link.
        #[arg(value_name = "MESSAGE-ID")]
        message_id: String,
        /// Why it is purged, for the audit log.
        #[arg(long, required = true, value_name = "TEXT")]
        reason: String,
        /// Keep the subject (by default it goes with the text, as it may hold what had to go).
        #[arg(long)]
        keep_subject: bool,
    },
    /// The audit log of erasures and purges, newest first: when, who, what, the policy and
    /// counts, never the content (addresses only as SHA-256 hashes).
    Erasures {
        /// Write {"erasures": [...]} as JSON to stdout.
        #[arg(long)]
        json: bool,
        /// The most entries to show.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
    },
    /// Administer accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the members: accounts for the old list's roster, and who may read a private list.
    #[command(subcommand)]
    Members(MembersCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account (or make an existing member admin) and print a one-time sign-in
    /// link for it, valid for an hour: the way in before the forum can send mail.
    Create {
        /// The admin's email address.
        email: String,
        /// The name shown beside their posts.
        #[arg(long, default_value = "Admin")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Add members from the old list's roster: a file with one member per line,
    /// "Jane Doe <jane@example.org>" or a bare address ("-" reads stdin). Addresses already
    /// known are left alone; blank lines and lines starting with # are skipped.
    Import {
        /// The roster file.
        file: PathBuf,
        /// Also put everyone in the file on this list's roster: the members who may read it
        /// when it is private (`[[lists]] private = true`).
        #[arg(long)]
        list: Option<String>,
    },
    /// Take addresses off a list's roster: they no longer read it when it is private.
    Remove {
        /// The list.
        #[arg(long)]
        list: String,
        /// The addresses to take off.
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Print a list's roster, one address per line.
    List {
        /// The list.
        #[arg(long)]
        list: String,
    },
    /// Make a member a moderator or an admin, or a member again (the change is in the
    /// moderation log). The last admin cannot be demoted.
    Role {
        /// One of the member's addresses.
        address: String,
        /// member, moderator or admin.
        #[arg(value_parser = ["member", "moderator", "admin"])]
        role: String,
    },
    /// Lift the pause on delivery to an address that bounced too often ([outbound]
    /// hard_bounce_limit): its bounce history is printed and its hard bounces are counted
    /// afresh. Mail set aside while it was paused is not sent.
    Resume {
        /// The address.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The raw mail as mboxrd, byte for byte as it was received.
    Mbox {
        /// Only this list's mail.
        #[arg(long, value_name = "NAME")]
        list: Option<String>,
        /// Only this thread's mail (its number, as in `export threads --json`).
        #[arg(long, value_name = "ID")]
        thread: Option<i64>,
    },
    /// Every thread with its messages in thread order: {"threads": [{thread, subject,
    /// messages: [{message_id, parent, depth, date, from}]}]}.
    Threads {
        /// JSON output (the only format for now; required so scripts say what they expect).
        #[arg(long, required = true)]
        json: bool,
        /// Only this list's threads.
        #[arg(long, value_name = "NAME")]
        list: Option<String>,
    },
}
