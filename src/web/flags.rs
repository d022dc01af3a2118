//! Members' flags on published posts (patient-identifiable data, abusive, spam, something
//! else, with an optional note), once per member and post and rate-limited; and moderators'
//! decisions on flagged and hidden posts: hide, dismiss the flags, show again. The queue is
//! on the moderators' page (`moderation`).

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::check_csrf;
use super::extract::{CsrfForm, Moderator, ToHeld, Viewer, carries_csrf};
use super::view;
use super::{AppState, WebError};
use crate::forum::moderation::{Decided, Decision, FlagRequest};
use crate::store::{FlagReason, Flagged};

carries_csrf!(DecisionForm);

/// The longest note a flag keeps.
const NOTE_CHARS: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct FlagForm {
    csrf: String,
    message_id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

pub async fn flag(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<FlagForm>,
) -> Result<Response, WebError> {
    // Back to the flagged post after signing in.
    let session = viewer.member(&view::permalink(&form.message_id))?;
    check_csrf(&session, &form.csrf)?;
    let Some(reason) = FlagReason::parse(&form.reason) else {
        return Err(WebError::BadRequest(
            "Choose why the post should be looked at (a patient's details, abuse, spam or something else), then flag it again.".to_owned(),
        ));
    };
    state.limits.flagging(session.user.id.0)?;
    // Looked up as the viewer: a private list's post is not theirs to flag unless a member.
    let wanted = form.message_id.clone();
    if state.read(move |s| s.locate(&wanted)).await?.is_none() {
        return Err(WebError::NotFound("post"));
    }
    let note: String = form.note.trim().chars().take(NOTE_CHARS).collect();
    let (user, name, id) = (
        session.user.id,
        session.user.display_name.clone(),
        form.message_id.clone(),
    );
    let flagged = state
        .act(move |s, config, now| {
            let request = FlagRequest {
                user,
                name: &name,
                message_id: &id,
                reason,
                note: (!note.is_empty()).then_some(note.as_str()),
            };
            Ok(crate::forum::moderation::flag(s, config, &request, now))
        })
        .await?;
    let page = |heading: &str, message: &str| view::MessagePage {
        head: state.head(Some(&session)),
        heading: heading.to_owned(),
        message: message.to_owned(),
    };
    Ok(match flagged {
        Flagged::NoSuchPost => return Err(WebError::NotFound("post")),
        Flagged::Already => (
            StatusCode::CONFLICT,
            view::render(&page(
                "Flagged already",
                "You have flagged this post before; the moderators have it. A post can be flagged once by each member.",
            )),
        )
            .into_response(),
        Flagged::New { .. } => view::render(&page(
            "Thank you",
            "The moderators have been told and will look at the post. Go back to carry on reading.",
        ))
        .into_response(),
    })
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: String,
    message_id: String,
    action: String,
    #[serde(default)]
    note: String,
    /// A thread page to go back to (hiding from the thread itself).
    #[serde(default)]
    back: String,
}

pub async fn decide(
    State(state): State<AppState>,
    CsrfForm(Moderator(session, _), form): CsrfForm<DecisionForm, Moderator<ToHeld>>,
) -> Result<Response, WebError> {
    let note = form
        .note
        .trim()
        .chars()
        .take(NOTE_CHARS)
        .collect::<String>();
    let decision = match form.action.as_str() {
        "hide" => Decision::Hide {
            note: (!note.is_empty()).then_some(note),
        },
        "dismiss" => Decision::Dismiss,
        "unhide" => Decision::Unhide,
        _ => {
            return Err(WebError::BadRequest(
                "Choose Hide, Dismiss the flags or Show again.".to_owned(),
            ));
        }
    };
    let config = Arc::clone(&state.config);
    let (moderator, id) = (session.user.id, form.message_id.clone());
    let now = chrono::Utc::now().timestamp();
    let decided = state
        .write(move |s| {
            crate::forum::moderation::decide(s, &config, &id, moderator, &decision, now)
        })
        .await?;
    let done = match decided {
        Decided::Hidden => "hidden",
        Decided::Dismissed => "dismissed",
        Decided::Shown => "shown",
        Decided::Gone => "gone",
    };
    // Back to the thread it was hidden from, if it still has posts; else to the queue.
    let back = form
        .back
        .strip_prefix("/t/")
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|_| decided == Decided::Hidden);
    let thread_left = match back {
        Some(t) => state
            .read(move |s| s.thread_info(crate::store::ThreadId(t)))
            .await?
            .map(|_| t),
        None => None,
    };
    let to = match thread_left {
        Some(t) => format!("/t/{t}"),
        None => format!("/admin/held?done={done}"),
    };
    Ok(Redirect::to(&to).into_response())
}
