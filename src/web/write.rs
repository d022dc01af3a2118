//! Writing on the web: replying to a post (optionally quoting it) and starting a thread, with a
//! preview, light formatting rendered safely, and form problems said in words. A post is
//! archived and queued in the outbox in one step (`forum::post_from_web`); the handler
//! never speaks SMTP. Moderators also read here what inbound mail was refused.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::check_csrf;
use super::extract::{
    Admin, CarriesCsrf, CsrfForm, Id, Member, Moderator, ToInbound, ToItem, Viewer, carries_csrf,
};
use super::view;
use super::{AppState, WebError};
use crate::forum::{Draft, PostError};
use crate::mail::markup;
use crate::store::{Session, ThreadId};

/// Longest post accepted from the web, in characters.
pub const MAX_POST_CHARS: usize = 50_000;

#[derive(Debug, Deserialize, Default)]
pub struct ReplyQuery {
    to: Option<String>,
    quote: Option<String>,
}

/// The post a reply answers: its Message-ID, author and text.
struct Parent {
    message_id: crate::store::MessageId,
    author: String,
    text: String,
}

async fn parent(
    state: &AppState,
    thread: i64,
    key: Option<&str>,
) -> Result<(String, String, Parent), WebError> {
    let key: Option<i64> = key.and_then(|k| k.parse().ok());
    let found = state
        .read(move |s| {
            let Some((subject, list)) = s.thread_info(ThreadId(thread))? else {
                return Ok(None);
            };
            let posts = s.thread_posts(ThreadId(thread))?;
            let post = match key {
                Some(k) => posts.into_iter().find(|p| p.key == k),
                None => posts.into_iter().next_back(),
            };
            Ok(post.map(|p| (subject, list, p)))
        })
        .await?
        .ok_or(WebError::NotFound("post"))?;
    let (subject, list, post) = found;
    let options = state.config.render_options(&list);
    let text = crate::mail::parse::mime(&post.raw_bytes()?)
        .map(|m| crate::mail::render::render_message(&m, &options, &|_| None).body)
        .unwrap_or_default();
    let author = post
        .from_name
        .clone()
        .or(post.from_addr.clone())
        .unwrap_or_else(|| "someone".to_owned());
    Ok((
        state.thread_title(subject.as_deref(), &list),
        list,
        Parent {
            message_id: post.headers.message_id,
            author,
            text,
        },
    ))
}

/// Where a compose form posts: a reply in a thread, or a new thread in a list.
enum Target<'a> {
    Reply {
        thread: i64,
        subject: &'a str,
        parent: &'a Parent,
    },
    NewThread {
        list: &'a str,
    },
}

/// The compose form, with what was typed, a preview or what to correct.
fn compose_page(
    state: &AppState,
    session: &Session,
    target: Target<'_>,
    subject: String,
    text: String,
    preview: Option<String>,
    problem: Option<String>,
) -> axum::response::Html<String> {
    let (heading, action, back, parent) = match &target {
        Target::Reply {
            thread,
            subject,
            parent,
        } => (
            format!("Reply: {subject}"),
            format!("/t/{thread}/reply"),
            format!("/t/{thread}"),
            Some(*parent),
        ),
        Target::NewThread { list } => (
            format!("New thread in {list}"),
            format!("/l/{list}/new"),
            format!("/l/{list}"),
            None,
        ),
    };
    view::render(&view::ComposePage {
        head: state.head(Some(session)),
        heading,
        action,
        back,
        parent_id: parent.map(|p| p.message_id.to_string()).unwrap_or_default(),
        parent_author: parent.map(|p| p.author.clone()).unwrap_or_default(),
        parent_text: parent.map(|p| p.text.clone()).unwrap_or_default(),
        is_reply: parent.is_some(),
        subject,
        text,
        preview,
        problem,
        can_post: state.config.outbound.is_some(),
    })
}

pub async fn reply_form(
    State(state): State<AppState>,
    Query(q): Query<ReplyQuery>,
    Id(ThreadId(id)): Id<ThreadId>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let back = format!("/t/{id}/reply?to={}", q.to.as_deref().unwrap_or(""));
    let session = viewer.member(&back)?;
    let (subject, _, parent) = parent(&state, id, q.to.as_deref()).await?;
    let text = if q.quote.is_some() {
        markup::quote(&parent.text, &parent.author)
    } else {
        String::new()
    };
    Ok(compose_page(
        &state,
        &session,
        Target::Reply {
            thread: id,
            subject: &subject,
            parent: &parent,
        },
        String::new(),
        text,
        None,
        None,
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct PostForm {
    csrf: String,
    #[serde(default)]
    parent: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
    /// "preview" or "post".
    #[serde(default)]
    action: String,
}

carries_csrf!(PostForm);

/// What is wrong with a draft, in words, or None.
fn draft_problem(text: &str, subject: Option<&str>) -> Option<String> {
    let mut problems = Vec::new();
    if let Some(s) = subject {
        if s.trim().is_empty() {
            problems.push("Give the thread a subject.".to_owned());
        } else if s.chars().count() > 200 {
            problems.push("Shorten the subject to at most 200 characters.".to_owned());
        }
    }
    if text.trim().is_empty() {
        problems.push("Write something before posting.".to_owned());
    } else if text.chars().count() > MAX_POST_CHARS {
        problems.push(format!(
            "Shorten the post: it has {} characters, at most {MAX_POST_CHARS} are accepted.",
            text.chars().count()
        ));
    }
    (!problems.is_empty()).then(|| problems.join(" "))
}

pub async fn post_reply(
    State(state): State<AppState>,
    Id(ThreadId(id)): Id<ThreadId>,
    CsrfForm(Member(session, _), form): CsrfForm<PostForm, Member<ToItem>>,
) -> Result<Response, WebError> {
    let parent_key = {
        let wanted = form.parent.clone();
        state
            .read(move |s| Ok(s.locate(&wanted)?.map(|(_, key)| key)))
            .await?
            .ok_or(WebError::NotFound("post"))?
    };
    let (subject, _, parent) = parent(&state, id, Some(&parent_key.to_string())).await?;
    let draft = Draft {
        user: session.user.id,
        author_name: session.user.display_name.clone(),
        list: String::new(),
        parent: Some(parent.message_id.to_string()),
        subject: String::new(),
        text: form.text,
        approved: false,
    };
    let target = Target::Reply {
        thread: id,
        subject: &subject,
        parent: &parent,
    };
    preview_or_post(&state, &session, target, draft, &form.action).await
}

/// A filled-in compose form: shown again with a preview or what to correct, or posted and the
/// member sent to their post.
async fn preview_or_post(
    state: &AppState,
    session: &Session,
    target: Target<'_>,
    draft: Draft,
    action: &str,
) -> Result<Response, WebError> {
    let subject = matches!(target, Target::NewThread { .. }).then_some(draft.subject.as_str());
    let problem = draft_problem(&draft.text, subject);
    if action == "preview" || problem.is_some() {
        let status = if problem.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let preview = problem.is_none().then(|| markup::to_html(&draft.text));
        let page = compose_page(
            state,
            session,
            target,
            draft.subject,
            draft.text,
            preview,
            problem,
        );
        return Ok((status, page).into_response());
    }
    state.limits.posting(session.user.id.0)?;
    let (subject, text) = (draft.subject.clone(), draft.text.clone());
    match submit(state, draft).await? {
        Ok(message_id) => Ok(Redirect::to(&view::permalink(&message_id)).into_response()),
        Err(PostError::Held(reason)) => Ok(held_page(state, session, &reason)),
        Err(problem) => {
            let page = compose_page(
                state,
                session,
                target,
                subject,
                text,
                None,
                Some(problem.to_string()),
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// What the author of a held post reads: why, and what happens next.
pub(super) fn held_page(state: &AppState, session: &Session, reason: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        view::render(&view::ErrorPage {
            head: state.head(Some(session)),
            heading: "Your post is held for a moderator",
            message: format!(
                "It was not published or sent to anyone, because {reason}. A moderator will \
                 review it and publish it or tell you why not. If it does contain a patient's \
                 details, you need do nothing: a moderator will reject it."
            ),
        }),
    )
        .into_response()
}

/// Archives and queues a draft; Err for what the member can fix, or a hold.
async fn submit(state: &AppState, draft: Draft) -> Result<Result<String, PostError>, WebError> {
    let config = Arc::clone(&state.config);
    let now = chrono::Utc::now().timestamp();
    let result = state
        .write(move |s| Ok(crate::forum::post_from_web(s, &config, &draft, now)))
        .await?;
    queued(state, result)
}

/// What became of a web post or announcement: its mail is woken to go out when it was queued
/// (a held one queued the moderators' mail, which goes at once); a store failure is the
/// server's, any other refusal the member's to fix.
pub(super) fn queued<T>(
    state: &AppState,
    result: Result<T, PostError>,
) -> Result<Result<T, PostError>, WebError> {
    match result {
        Err(PostError::Store(e)) => Err(e.into()),
        Ok(_) | Err(PostError::Held(_)) => {
            state.wake.notify_one();
            Ok(result)
        }
        Err(_) => Ok(result),
    }
}

async fn known_list(state: &AppState, list: &str) -> Result<(), WebError> {
    if state.list(list).is_some() {
        state.readable_list(list).await
    } else {
        Err(WebError::NotFound("list"))
    }
}

pub async fn new_thread_form(
    State(state): State<AppState>,
    Path(list): Path<String>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    known_list(&state, &list).await?;
    let session = viewer.member(&format!("/l/{list}/new"))?;
    Ok(compose_page(
        &state,
        &session,
        Target::NewThread { list: &list },
        String::new(),
        String::new(),
        None,
        None,
    )
    .into_response())
}

pub async fn post_new_thread(
    State(state): State<AppState>,
    Path(list): Path<String>,
    viewer: Viewer,
    Form(form): Form<PostForm>,
) -> Result<Response, WebError> {
    known_list(&state, &list).await?;
    let session = viewer.member(&format!("/l/{list}/new"))?;
    check_csrf(&session, form.csrf())?;
    let draft = Draft {
        user: session.user.id,
        author_name: session.user.display_name.clone(),
        list: list.clone(),
        parent: None,
        subject: form.subject,
        text: form.text,
        approved: false,
    };
    preview_or_post(
        &state,
        &session,
        Target::NewThread { list: &list },
        draft,
        &form.action,
    )
    .await
}

/// Moderators: inbound mail that was refused, dropped or bounced, newest first.
#[derive(Debug, Deserialize)]
pub struct InboundQuery {
    #[serde(default)]
    resumed: String,
}

pub async fn inbound_log(
    State(state): State<AppState>,
    Moderator(session, _): Moderator,
    Query(query): Query<InboundQuery>,
) -> Result<Response, WebError> {
    let entries = state.read(|s| s.inbound_log(200)).await?;
    let bounces = state.read(|s| s.bounce_records(200)).await?;
    let page = view::InboundPage {
        head: state.head(Some(&session)),
        entries,
        bounces,
        notice: if query.resumed.is_empty() {
            String::new()
        } else {
            format!("Delivery to {} is resumed.", query.resumed)
        },
    };
    Ok(view::render(&page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ResumeForm {
    csrf: String,
    address: String,
}

carries_csrf!(ResumeForm);

/// An admin lifts the pause on delivery to an address that bounced too often.
pub async fn resume_delivery(
    State(state): State<AppState>,
    CsrfForm(Admin(_, _), form): CsrfForm<ResumeForm, Admin<ToInbound>>,
) -> Result<Response, WebError> {
    let address = form.address.trim().to_lowercase();
    let wanted = address.clone();
    let before = state.write(move |s| s.resume_delivery(&wanted)).await?;
    if before.is_none_or(|b| b.paused_at.is_none()) {
        return Err(WebError::NotFound("paused address"));
    }
    state.wake.notify_one();
    let to = format!(
        "/admin/inbound?resumed={}",
        percent_encoding::utf8_percent_encode(&address, percent_encoding::NON_ALPHANUMERIC)
    );
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_say_what_to_fix() {
        assert!(draft_problem("", None).unwrap().contains("Write something"));
        assert!(draft_problem("hi", Some(" ")).unwrap().contains("subject"));
        assert!(
            draft_problem(&"x".repeat(MAX_POST_CHARS + 1), None)
                .unwrap()
                .contains("Shorten")
        );
        assert_eq!(draft_problem("hello", Some("Asthma")), None);
    }
}
