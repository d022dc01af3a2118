//! The moderators' page: one queue of what needs them. Held posts (patient-identifiable data
//! found before publishing): read each with why it was held, publish it (a web post's text
//! corrected first if need be) or reject it with a reason its author is told. Posts members
//! flagged (decided in `flags`), hidden posts, the threading fixes in force (taken back in
//! `fixes`), and the log of who did what.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{CsrfForm, Id, Moderator, ToHeld, carries_csrf};
use super::view;
use super::{AppState, WebError};
use crate::forum::held::{Decided, Decision, HeldDecision};
use crate::store::{FixKind, HeldId, HeldKind, HideWhy};

carries_csrf!(DecisionForm);

#[derive(Debug, Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn queue(
    State(state): State<AppState>,
    Query(done): Query<Done>,
    Moderator(session, _): Moderator,
) -> Result<Response, WebError> {
    let (held, flagged, hidden, fixes, log) = state
        .read(|s| {
            Ok((
                s.held_posts(200)?,
                s.flag_queue(200)?,
                s.hidden_posts(200)?,
                s.thread_fixes()?,
                s.moderation_log(100)?,
            ))
        })
        .await?;
    let notice = match done.done.as_deref() {
        Some("published") => "Published.",
        Some("rejected") => "Rejected; the author is told why.",
        Some("gone") => "Another moderator had already decided on that post.",
        Some("hidden") => {
            "Hidden. Its mail stays in the archive's raw store; Show again brings it back."
        }
        Some("dismissed") => "The flags are dismissed; the post is shown.",
        Some("shown") => "The post is shown again.",
        _ => "",
    };
    let read = |raw: &[u8], list: &str| {
        let options = state.config.render_options(list);
        crate::mail::parse::mime(raw)
            .map(|m| crate::mail::render::render_message(&m, &options, &|_| None))
    };
    let flagged = flagged
        .into_iter()
        .map(|f| {
            let r = read(&f.raw, &f.list);
            view::FlaggedRow {
                permalink: view::permalink(&f.message_id),
                subject: state.subject(r.as_ref().and_then(|r| r.subject.as_deref()), &f.list),
                author: r.as_ref().map(|r| r.from.clone()).unwrap_or_default(),
                body: r.map(|r| r.body).unwrap_or_default(),
                message_id: f.message_id,
                list: f.list,
                hidden: f.hidden,
                flags: f
                    .flags
                    .into_iter()
                    .map(|e| {
                        (
                            e.reason.label().to_owned(),
                            e.note.unwrap_or_default(),
                            e.by,
                            view::Stamp::at(Some(e.at)),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let hidden = hidden
        .into_iter()
        .map(|h| {
            let r = read(&h.raw, &h.list);
            view::HiddenRow {
                subject: state.subject(r.as_ref().and_then(|r| r.subject.as_deref()), &h.list),
                author: r.map(|r| r.from).unwrap_or_default(),
                message_id: h.message_id,
                by: match (h.why, h.by) {
                    (HideWhy::Flags, _) => "members' flags (waiting for a moderator)".to_owned(),
                    (HideWhy::Moderator, Some(name)) => name,
                    (HideWhy::Moderator, None) => "a moderator".to_owned(),
                },
                when: view::Stamp::at(Some(h.at)),
                note: h.note.unwrap_or_default(),
            }
        })
        .collect();
    let fixes = fixes
        .into_iter()
        .rev()
        .map(|f| {
            let (before, middle, target) = match &f.kind {
                FixKind::Split => ("Split the thread at", "", None),
                FixKind::Move {
                    target,
                    as_reply: true,
                } => ("Moved", "with its replies, as a reply to", Some(target)),
                FixKind::Move { target, .. } => (
                    "Moved",
                    "with its replies, into the thread of",
                    Some(target),
                ),
                FixKind::Merge { target } => {
                    ("Merged the thread of", "into the thread of", Some(target))
                }
            };
            view::FixRow {
                id: f.id.0,
                before: before.to_owned(),
                middle: middle.to_owned(),
                message: view::permalink(&f.message_id),
                target: target.map(|t| view::permalink(t)),
                by: f.by.unwrap_or_else(|| "a former moderator".to_owned()),
                when: view::Stamp::at(Some(f.at)),
            }
        })
        .collect();
    let log = log
        .into_iter()
        .map(|e| view::LogRow {
            who: e.moderator.unwrap_or_else(|| {
                if e.action == "hidden by flags" {
                    "Members' flags".to_owned()
                } else {
                    "A former moderator".to_owned()
                }
            }),
            action: e.action,
            message: e.message_id.as_deref().map(view::permalink),
            target: e.target.as_deref().map(view::permalink),
            detail: e.detail.unwrap_or_default(),
            when: view::Stamp::at(Some(e.at)),
        })
        .collect();
    Ok(view::render(&view::HeldPage {
        head: state.head(Some(&session)),
        posts: held
            .into_iter()
            .map(|h| view::HeldRow {
                id: h.id.0,
                subject: h.subject,
                author: h.author.name_or_address().unwrap_or("someone").to_owned(),
                list: h.list_name,
                kind: match h.kind {
                    HeldKind::Web { .. } => "web post",
                    HeldKind::Mail { .. } => "mail",
                },
                editable: matches!(h.kind, HeldKind::Web { .. }),
                when: view::Stamp::at(Some(h.created)),
                reason: h.reason,
                body: h.body,
            })
            .collect(),
        flagged,
        hidden,
        fixes,
        log,
        notice: notice.to_owned(),
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: String,
    action: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    reason: String,
}

pub async fn decide(
    State(state): State<AppState>,
    Id(id): Id<HeldId>,
    CsrfForm(Moderator(session, _), form): CsrfForm<DecisionForm, Moderator<ToHeld>>,
) -> Result<Response, WebError> {
    let decision = match form.action.as_str() {
        "approve" => Decision::Approve {
            text: form.text.filter(|t| !t.trim().is_empty()),
        },
        "reject" if form.reason.trim().is_empty() => {
            return Err(WebError::BadRequest(
                "Give the author a reason for rejecting the post, then press Reject again."
                    .to_owned(),
            ));
        }
        "reject" => Decision::Reject {
            reason: form.reason.trim().to_owned(),
        },
        _ => return Err(WebError::BadRequest("Choose Publish or Reject.".to_owned())),
    };
    let moderator = session.user.id;
    let decided = state
        .act(move |s, config, now| {
            let decision = HeldDecision {
                held: id,
                moderator,
                decision,
            };
            Ok(crate::forum::held::decide(s, config, decision, now))
        })
        .await?;
    let done = match decided {
        Decided::Published(_) => "published",
        Decided::Rejected => "rejected",
        Decided::Gone => "gone",
    };
    Ok(Redirect::to(&format!("/admin/held?done={done}")).into_response())
}
