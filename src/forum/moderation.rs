//! Moderators' work on published mail, carried out in one transaction each and written to the
//! moderation log with it: members' flags (the moderators mailed when a post enters the queue,
//! and the post hidden once `[moderation] hide_after_flags` members have flagged it), hiding a
//! message and bringing it back (derived again from its raw mail, as `reindex` would), and
//! threading fixes (recorded, applied at once, and refused when they would change nothing or
//! cross lists).

use crate::archive::derive_one;
use crate::config::Config;
use crate::forum::PostError;
use crate::forum::moderators::{FlagNews, tell_moderators_of_flag};
use crate::mail::parse::parse_message;
use crate::store::{
    FixId, FixKind, FlagReason, Flagged, Hid, HideWhy, Store, StoreError, StoredRaw, ThreadId,
    UserId, Writer,
};

/// A member's flag on a post.
pub struct FlagRequest<'a> {
    pub user: UserId,
    /// Their name, for the moderators' mail.
    pub name: &'a str,
    pub message_id: &'a str,
    pub reason: FlagReason,
    pub note: Option<&'a str>,
}

/// Records a member's flag; mails the moderators when the post enters the queue, and hides it
/// (mailing them again) when enough members have flagged it.
pub fn flag(
    store: &mut Store,
    config: &Config,
    request: &FlagRequest<'_>,
    now: i64,
) -> Result<Flagged, PostError> {
    let run = store.begin_run("flag", now)?;
    let writer = store.writer(run)?;
    let brief = writer.message_brief(request.message_id)?;
    let flagged = writer.flag(
        request.user,
        request.message_id,
        request.reason,
        request.note,
        now,
    )?;
    let (Flagged::New { first, open }, Some((subject, author, list))) = (flagged, brief) else {
        return Ok(flagged);
    };
    let threshold = config.moderation.hide_after_flags;
    let hidden = threshold > 0
        && open >= threshold
        && writer.hide(request.message_id, HideWhy::Flags, None, None, now)? == Hid::Hidden;
    if hidden {
        writer.log_moderation(
            None,
            "hidden by flags",
            Some(request.message_id),
            None,
            Some(&format!("{open} members flagged it")),
            now,
        )?;
    }
    if first || hidden {
        tell_moderators_of_flag(
            &writer,
            config,
            &FlagNews {
                message_id: request.message_id,
                list: &list,
                author: &author,
                subject: subject.as_deref().unwrap_or("(no subject)"),
                by: request.name,
                reason: request.reason.label(),
                note: request.note,
                open,
                hidden,
                link: &format!("/m/{}", request.message_id),
            },
            now,
        )?;
    }
    writer.commit()?;
    Ok(flagged)
}

/// A moderator's decision on a flagged or hidden post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Hide it (the flags upheld).
    Hide { note: Option<String> },
    /// Keep it shown: the flags dismissed, and a post the flags hid shown again.
    Dismiss,
    /// Show a hidden post again (its open flags dismissed).
    Unhide,
}

/// What came of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Hidden,
    Dismissed,
    Shown,
    /// No such post (or nothing left to decide).
    Gone,
}

pub fn decide(
    store: &mut Store,
    config: &Config,
    message_id: &str,
    moderator: UserId,
    decision: &Decision,
    now: i64,
) -> Result<Decided, StoreError> {
    let tagger = store.tagger()?;
    let run = store.begin_run("moderation", now)?;
    let writer = store.writer(run)?;
    let decided = match decision {
        Decision::Hide { note } => {
            match writer.hide(
                message_id,
                HideWhy::Moderator,
                Some(moderator),
                note.as_deref(),
                now,
            )? {
                Hid::NotFound => Decided::Gone,
                Hid::Hidden | Hid::Already => {
                    writer.close_flags(message_id, true, moderator, now)?;
                    writer.log_moderation(
                        Some(moderator),
                        "hide",
                        Some(message_id),
                        None,
                        note.as_deref(),
                        now,
                    )?;
                    Decided::Hidden
                }
            }
        }
        Decision::Dismiss => {
            let closed = writer.close_flags(message_id, false, moderator, now)?;
            let by_flags = writer.hidden_why(message_id)? == Some(HideWhy::Flags);
            if by_flags {
                show_again(&writer, config, &tagger, message_id)?;
            }
            if closed == 0 && !by_flags {
                Decided::Gone
            } else {
                writer.log_moderation(
                    Some(moderator),
                    "dismiss flags",
                    Some(message_id),
                    None,
                    by_flags.then_some("shown again"),
                    now,
                )?;
                Decided::Dismissed
            }
        }
        Decision::Unhide => {
            if show_again(&writer, config, &tagger, message_id)? {
                writer.close_flags(message_id, false, moderator, now)?;
                writer.log_moderation(
                    Some(moderator),
                    "unhide",
                    Some(message_id),
                    None,
                    None,
                    now,
                )?;
                Decided::Shown
            } else {
                Decided::Gone
            }
        }
    };
    writer.commit()?;
    Ok(decided)
}

/// Forgets that a message is hidden and derives it again from its raw mail, as `reindex`
/// would. (Further copies of it are linked again by the next `reindex`; they only matter to a
/// thread's mbox.)
fn show_again(
    writer: &Writer<'_>,
    config: &Config,
    tagger: &crate::store::InterestTagger,
    message_id: &str,
) -> Result<bool, StoreError> {
    let Some(StoredRaw {
        id,
        sha256,
        list,
        envelope,
        bytes,
    }) = writer.unhide(message_id)?
    else {
        return Ok(false);
    };
    let options = config.render_options(&writer.list_name(list)?);
    let parsed = parse_message(&bytes, envelope.as_deref(), &options);
    derive_one(writer, id, &sha256, list, parsed.as_ref(), tagger)?;
    Ok(true)
}

/// Where a moved message or merged thread goes: a thread (its first message stands for it),
/// or a message (a moved message becomes a reply to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Thread(ThreadId),
    Message(String),
}

/// A moderator's threading fix, asked from a thread's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixRequest {
    /// The message and its replies become a thread of their own.
    Split {
        thread: ThreadId,
        message_id: String,
    },
    /// The message and its replies go to another thread.
    Move {
        thread: ThreadId,
        message_id: String,
        to: Target,
    },
    /// The whole thread joins another.
    Merge { thread: ThreadId, into: Target },
}

/// What came of a fix: the thread to show, or why nothing was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixOutcome {
    Done(ThreadId),
    Refused(String),
}

/// Records and applies a fix, unless it would do nothing; logged with who asked.
pub fn fix_thread(
    store: &mut Store,
    request: &FixRequest,
    moderator: UserId,
    now: i64,
) -> Result<FixOutcome, StoreError> {
    let refuse = |why: &str| Ok(FixOutcome::Refused(why.to_owned()));
    let thread = match request {
        FixRequest::Split { thread, .. }
        | FixRequest::Move { thread, .. }
        | FixRequest::Merge { thread, .. } => *thread,
    };
    let Some((_, list)) = store.thread_info(thread)? else {
        return refuse("That thread is not in the archive (it may have been merged away).");
    };
    if let FixRequest::Split { message_id, .. } | FixRequest::Move { message_id, .. } = request
        && store.locate(message_id)?.map(|l| l.0) != Some(thread)
    {
        return refuse(
            "That post is not in this thread any more. Reload the thread and try again.",
        );
    }
    // The message standing for the target, whether a moved message answers it, its thread.
    let target = match request {
        FixRequest::Split { .. } => None,
        FixRequest::Move { to, .. } | FixRequest::Merge { into: to, .. } => {
            let found = match to {
                Target::Thread(t) => store.first_message(*t)?.map(|m| (m, false, *t)),
                Target::Message(m) => store.locate(m)?.map(|(t, _)| (m.clone(), true, t)),
            };
            let Some((anchor, on_message, there)) = found else {
                return refuse(
                    "There is no thread or post at the address given. Paste the address of a \
                     thread (/t/123) or of a post (its date's link, /m/...).",
                );
            };
            if store.thread_info(there)?.map(|i| i.1) != Some(list.clone()) {
                return refuse(
                    "That thread is in another list. Threads of different lists cannot be \
                     joined (their readers may differ).",
                );
            }
            if there == thread && !(on_message && matches!(request, FixRequest::Move { .. })) {
                return refuse("That is this thread already.");
            }
            if let FixRequest::Move { message_id, .. } = request
                && there == thread
                && answers(store, thread, &anchor, message_id)?
            {
                return refuse(
                    "That would put the post under one of its own replies: choose a post \
                     outside the part that moves.",
                );
            }
            Some((anchor, on_message, there))
        }
    };
    let run = store.begin_run("thread fix", now)?;
    let writer = store.writer(run)?;
    let (message, kind, action) = match (request, &target) {
        (FixRequest::Split { message_id, .. }, _) => (message_id.clone(), FixKind::Split, "split"),
        (FixRequest::Move { message_id, .. }, Some((anchor, on_message, _))) => {
            if anchor == message_id {
                return refuse("A post cannot be moved under itself.");
            }
            (
                message_id.clone(),
                FixKind::Move {
                    target: anchor.clone(),
                    as_reply: *on_message,
                },
                "move",
            )
        }
        (FixRequest::Merge { .. }, Some((anchor, _, _))) => {
            let Some(first) = writer.first_message_of(thread)? else {
                return refuse("That thread has no posts left.");
            };
            (
                first,
                FixKind::Merge {
                    target: anchor.clone(),
                },
                "merge",
            )
        }
        _ => return refuse("Say where the post or thread should go."),
    };
    writer.add_thread_fix(&message, &kind, moderator, now)?;
    let now_in = writer.thread_of_message(&message)?;
    // Dropping the writer without committing takes the fix back.
    let outcome = match &kind {
        FixKind::Split => {
            if writer.thread_size(thread)? == 0 || now_in == Some(thread) {
                return refuse(
                    "This post starts the thread: there is nothing above it to split it from.",
                );
            }
            now_in
        }
        FixKind::Move { target, .. } | FixKind::Merge { target } => {
            let there = writer.thread_of_message(target)?;
            if there != now_in {
                return refuse(
                    "That would put the post under one of its own replies: choose a post \
                     outside the part that moves.",
                );
            }
            there
        }
    };
    let Some(outcome) = outcome else {
        return refuse("That post is no longer in the archive.");
    };
    let (target_id, detail) = match &kind {
        FixKind::Split => (
            None,
            format!("from thread {} into thread {}", thread.0, outcome.0),
        ),
        FixKind::Move { target, as_reply } => (
            Some(target.as_str()),
            format!(
                "from thread {} to thread {}{}",
                thread.0,
                outcome.0,
                if *as_reply { ", as a reply" } else { "" }
            ),
        ),
        FixKind::Merge { target } => (
            Some(target.as_str()),
            format!("thread {} into thread {}", thread.0, outcome.0),
        ),
    };
    writer.log_moderation(
        Some(moderator),
        action,
        Some(&message),
        target_id,
        Some(&detail),
        now,
    )?;
    writer.commit()?;
    Ok(FixOutcome::Done(outcome))
}

/// Whether `reply` sits under `post` (at any depth) in a thread as it is shown now.
fn answers(store: &Store, thread: ThreadId, reply: &str, post: &str) -> Result<bool, StoreError> {
    let arranged = store.arranged_thread(thread, None)?;
    let parent: std::collections::HashMap<&str, &str> = arranged
        .messages
        .iter()
        .filter_map(|m| Some((m.message_id.as_str(), m.parent.as_deref()?)))
        .collect();
    let mut at = reply;
    // Each step goes up one level of a tree: at most as many steps as messages.
    for _ in 0..=arranged.messages.len() {
        match parent.get(at) {
            Some(&up) if up == post => return Ok(true),
            Some(&up) => at = up,
            None => return Ok(false),
        }
    }
    Ok(false)
}

/// Takes a fix back, logged; the thread its message is in afterwards.
pub fn undo_fix(
    store: &mut Store,
    id: FixId,
    moderator: UserId,
    now: i64,
) -> Result<Option<ThreadId>, StoreError> {
    let run = store.begin_run("thread fix undone", now)?;
    let writer = store.writer(run)?;
    let Some(fix) = writer.remove_thread_fix(id)? else {
        return Ok(None);
    };
    let (what, target) = match &fix.kind {
        FixKind::Split => ("a split", None),
        FixKind::Move { target, .. } => ("a move", Some(target.as_str())),
        FixKind::Merge { target } => ("a merge", Some(target.as_str())),
    };
    writer.log_moderation(
        Some(moderator),
        "undo",
        Some(&fix.message_id),
        target,
        Some(&format!(
            "took back {what} made by {}",
            fix.by.as_deref().unwrap_or("a moderator")
        )),
        now,
    )?;
    let thread = writer.thread_of_message(&fix.message_id)?;
    writer.commit()?;
    Ok(thread)
}
