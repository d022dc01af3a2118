//! Moderators' threading fixes from a thread's page: split the thread at a post, move a post
//! (with its replies) to another thread or under another post, merge the thread into another;
//! and taking a fix back from the moderation page. The store keeps each by Message-ID and
//! applies it whenever threads are derived, so it survives `reindex`.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{CsrfForm, Id, Moderator, ToHeld, ToItem, TokenOnly, carries_csrf};
use super::{AppState, WebError};
use crate::forum::moderation::{FixOutcome, FixRequest, Target};
use crate::store::{FixId, Session, ThreadId};

/// A thread or post named the way a moderator would paste it: a thread's address or number
/// (`https://forum/t/123`, `/t/123#m-4`, `123`), or a post's permalink or Message-ID
/// (`/m/abc%40example.org`, `<abc@example.org>`).
pub(super) fn target(text: &str) -> Option<Target> {
    let text = text.trim();
    if let Some(at) = text.find("/m/") {
        let rest = text[at + 3..].split(['?', '#']).next().unwrap_or_default();
        let id = percent_encoding::percent_decode_str(rest)
            .decode_utf8()
            .ok()?
            .to_string();
        let id = super::pages::bare_message_id(id.trim());
        return (!id.is_empty()).then_some(Target::Message(id));
    }
    let number = match text.find("/t/") {
        Some(at) => text[at + 3..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default(),
        None => text,
    };
    if let Ok(n) = number.parse::<i64>() {
        return (n > 0).then_some(Target::Thread(ThreadId(n)));
    }
    let id = super::pages::bare_message_id(text);
    (id.contains('@') && !id.contains(char::is_whitespace)).then_some(Target::Message(id))
}

fn unclear(what: &str) -> WebError {
    WebError::BadRequest(format!(
        "Say where {what} should go: paste the address of a thread (/t/123) or of a post \
         (the link on its date, /m/...)."
    ))
}

/// The moderator fixing a thread, with the fix's form; anyone not signed in goes to the
/// sign-in page and back to the thread.
type FixForm<F> = CsrfForm<F, Moderator<ToItem>>;

/// Carries out a fix and shows the thread it leads to, or says why it was not done.
async fn apply(
    state: &AppState,
    session: Session,
    request: FixRequest,
) -> Result<Response, WebError> {
    let moderator = session.user.id;
    let now = chrono::Utc::now().timestamp();
    let outcome = state
        .write(move |s| crate::forum::moderation::fix_thread(s, &request, moderator, now))
        .await?;
    match outcome {
        FixOutcome::Done(to) => Ok(Redirect::to(&format!("/t/{}", to.0)).into_response()),
        FixOutcome::Refused(why) => Err(WebError::BadRequest(why)),
    }
}

#[derive(Debug, Deserialize)]
pub struct PostForm {
    csrf: String,
    message_id: String,
    #[serde(default)]
    to: String,
}

#[derive(Debug, Deserialize)]
pub struct MergeForm {
    csrf: String,
    #[serde(default)]
    into: String,
}

carries_csrf!(PostForm, MergeForm);

pub async fn split(
    State(state): State<AppState>,
    Id(thread): Id<ThreadId>,
    CsrfForm(Moderator(session, _), form): FixForm<PostForm>,
) -> Result<Response, WebError> {
    let message_id = form.message_id;
    apply(&state, session, FixRequest::Split { thread, message_id }).await
}

pub async fn move_post(
    State(state): State<AppState>,
    Id(thread): Id<ThreadId>,
    CsrfForm(Moderator(session, _), form): FixForm<PostForm>,
) -> Result<Response, WebError> {
    let to = target(&form.to).ok_or_else(|| unclear("the post"))?;
    let message_id = form.message_id;
    apply(
        &state,
        session,
        FixRequest::Move {
            thread,
            message_id,
            to,
        },
    )
    .await
}

pub async fn merge(
    State(state): State<AppState>,
    Id(thread): Id<ThreadId>,
    CsrfForm(Moderator(session, _), form): FixForm<MergeForm>,
) -> Result<Response, WebError> {
    let into = target(&form.into).ok_or_else(|| unclear("the thread"))?;
    apply(&state, session, FixRequest::Merge { thread, into }).await
}

pub async fn undo(
    State(state): State<AppState>,
    Id(id): Id<FixId>,
    CsrfForm(Moderator(session, _), _): CsrfForm<TokenOnly, Moderator<ToHeld>>,
) -> Result<Response, WebError> {
    let moderator = session.user.id;
    let now = chrono::Utc::now().timestamp();
    let thread = state
        .write(move |s| crate::forum::moderation::undo_fix(s, id, moderator, now))
        .await?;
    let to = match thread {
        Some(t) => format!("/t/{}", t.0),
        None => "/admin/held?done=gone".to_owned(),
    };
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_as_moderators_paste_them() {
        let thread = |n| Some(Target::Thread(ThreadId(n)));
        let message = |m: &str| Some(Target::Message(m.to_owned()));
        for (text, want) in [
            ("12", thread(12)),
            (" /t/12 ", thread(12)),
            (
                "https://forum.example.org/t/12?view=nested#m-40",
                thread(12),
            ),
            ("/t/12/reply?to=3", thread(12)),
            ("/m/abc%40example.org", message("abc@example.org")),
            (
                "https://forum.example.org/m/%3Cabc%40example.org%3E",
                message("abc@example.org"),
            ),
            ("<abc@example.org>", message("abc@example.org")),
            ("abc@example.org", message("abc@example.org")),
            ("", None),
            ("0", None),
            ("-3", None),
            ("/t/abc", None),
            ("the asthma thread", None),
            ("/m/", None),
        ] {
            assert_eq!(target(text), want, "{text:?}");
        }
    }
}
