//! A moderator's decision on a held post. Approving publishes it as it would have been, once:
//! a web post is posted (with the moderator's edits) in the same transaction that records the
//! decision; a mail goes through the gate again (not held this time), and the raw store's
//! de-duplication makes a second approval a no-op. Rejecting records the reason and tells the
//! author.

use std::sync::Arc;

use crate::archive::Incoming;
use crate::archive::pipeline::{ImportSummary, store_batch};
use crate::config::Config;
use crate::mail::render::RenderOptions;
use crate::store::{Cursor, HeldKind, ListId, RunId, Store, StoreError, UserId};

pub use crate::archive::HeldDecision;
pub use crate::mail::decision::Decision;

use super::gate::Gate;
use super::{Draft, PostError};

/// What came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Published: the web post's Message-ID, or None for a mail.
    Published(Option<String>),
    Rejected,
    /// Another moderator decided first, or there is no such post.
    Gone,
}

/// Stores a fetched batch through `gate` (see `archive::pipeline::store_batch`), then carries
/// out the moderators' decisions its mail carried, each a transaction of its own.
pub fn take_in(
    gate: &Gate,
    store: &mut Store,
    run: RunId,
    list: ListId,
    render: &RenderOptions,
    items: Vec<Incoming>,
    cursor: Option<(&str, &Cursor)>,
    now: i64,
) -> Result<ImportSummary, StoreError> {
    let batch = store_batch(store, run, list, render, items, cursor, Some(gate), now)?;
    carry_out(store, gate.config(), batch.decisions, now)?;
    Ok(batch.summary)
}

/// Carries out the moderators' decisions read from their mail, once the batch that carried
/// them is committed; a decision that fails for any reason but the store's is logged and left.
pub fn carry_out(
    store: &mut Store,
    config: &Arc<Config>,
    decisions: Vec<HeldDecision>,
    now: i64,
) -> Result<(), StoreError> {
    for d in decisions {
        match decide(store, config, d, now) {
            Ok(_) => {}
            Err(PostError::Store(e)) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "a moderator's decision by mail failed"),
        }
    }
    Ok(())
}

/// Carries out a moderator's decision on a held post. Once decided, the held post keeps only
/// its masked subject and text and the decision (logged for the moderators); the write-ahead
/// log is emptied after, so the full text is in neither the database file nor the log.
pub fn decide(
    store: &mut Store,
    config: &Arc<Config>,
    decision: HeldDecision,
    now: i64,
) -> Result<Decided, PostError> {
    let decided = decide_once(store, config, decision, now)?;
    if decided != Decided::Gone {
        store.checkpoint()?;
    }
    Ok(decided)
}

/// What is kept of a held post once decided, and the log line of the decision, in the
/// decision's transaction.
fn record(
    writer: &crate::store::Writer<'_>,
    config: &Config,
    held: &crate::store::Held,
    moderator: UserId,
    published: Option<&str>,
    reason: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let screen = config.privacy_screen();
    let subject = screen.masked(&held.subject);
    let reason = reason.map(|r| screen.masked(r.trim()));
    writer.keep_only_masked(
        held.id,
        &subject,
        &screen.masked(&held.body),
        reason.as_deref(),
    )?;
    let (action, detail) = match &reason {
        Some(reason) => (
            "rejected a held post",
            format!("\"{}\": {reason}", subject.trim()),
        ),
        None => ("published a held post", format!("\"{}\"", subject.trim())),
    };
    writer.log_moderation(Some(moderator), action, published, None, Some(&detail), now)
}

fn decide_once(
    store: &mut Store,
    config: &Arc<Config>,
    HeldDecision {
        held: id,
        moderator,
        decision,
    }: HeldDecision,
    now: i64,
) -> Result<Decided, PostError> {
    let Some(held) = store.held_post(id)? else {
        return Ok(Decided::Gone);
    };
    if held.state != "held" {
        return Ok(Decided::Gone);
    }
    match decision {
        Decision::Reject { reason } => {
            let run = store.begin_run("held post rejected", now)?;
            let writer = store.writer(run)?;
            if !writer.decide_held(id, false, moderator, Some(&reason), now)? {
                return Ok(Decided::Gone);
            }
            record(&writer, config, &held, moderator, None, Some(&reason), now)?;
            let address = match held.user {
                Some(user) => writer.mail_address(user)?,
                None => held.author.address.clone(),
            };
            if let Some(address) = address {
                // The author's mail names the post by its subject, masked as what is kept.
                let subject = config.privacy_screen().masked(held.subject.trim());
                let text = format!(
                    "Hello,\n\nYour post \"{}\" to {} was held for a moderator, who decided not to \
                     publish it:\n\n{}\n\nNothing of it was published.\n\n-- \n{}\n",
                    subject,
                    held.list_name,
                    reason.trim(),
                    config.web.site_name
                );
                let outbox = crate::forum::queue_notice(
                    &writer,
                    config,
                    &address,
                    &format!("Not published: {subject}"),
                    &text,
                    None,
                    now,
                )?;
                writer.record_quotes(outbox, &[crate::store::Quoted::Held(id)])?;
            }
            writer.commit()?;
            Ok(Decided::Rejected)
        }
        Decision::Approve { text } => match &held.kind {
            HeldKind::Web { parent } => {
                let Some(user) = held.user else {
                    return Ok(Decided::Gone);
                };
                let draft = Draft {
                    user,
                    author_name: held.author.name.clone().unwrap_or_default(),
                    list: held.list_name.clone(),
                    parent: parent.clone(),
                    subject: held.subject.clone(),
                    text: text.unwrap_or(held.body.clone()),
                    approved: true,
                };
                let (message_id, decided) =
                    crate::forum::post_with(store, config, &draft, None, now, |w, _, posted| {
                        let decided = w.decide_held(id, true, moderator, None, now)?;
                        if decided {
                            record(w, config, &held, moderator, Some(posted), None, now)?;
                        }
                        Ok(decided)
                    })?;
                // Decided in the same transaction: a lost race rolled the post back too.
                Ok(if decided {
                    Decided::Published(Some(message_id))
                } else {
                    Decided::Gone
                })
            }
            HeldKind::Mail { raw, origin } => {
                let run = store.begin_run("held mail approved", now)?;
                let render = config.render_options(&held.list_name);
                let mail = vec![Incoming {
                    bytes: raw.clone(),
                    envelope: None,
                    origin: origin.clone(),
                }];
                match Gate::releasing(Arc::clone(config), &held.list_name) {
                    Some(gate) => {
                        take_in(&gate, store, run, held.list, &render, mail, None, now)?;
                    }
                    None => {
                        store_batch(store, run, held.list, &render, mail, None, None, now)?;
                    }
                }
                let run = store.begin_run("held mail approved", now)?;
                let writer = store.writer(run)?;
                if writer.decide_held(id, true, moderator, None, now)? {
                    let published = crate::mail::parse::parse_message(raw, None, &render)
                        .ok()
                        .and_then(|p| p.message_id);
                    record(
                        &writer,
                        config,
                        &held,
                        moderator,
                        published.as_deref(),
                        None,
                        now,
                    )?;
                }
                writer.commit()?;
                Ok(Decided::Published(None))
            }
        },
    }
}
