//! Erasure on the web: a member erases their own account (after a confirmation they type), and
//! admins purge a message (after checking what it is) and read the audit log of erasures and
//! purges. The work itself is `crate::forum::erasure`'s; these pages ask, confirm and report.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::extract::{Admin, CsrfForm, Member, ToErasures, carries_csrf};
use super::view;
use super::{AppState, WebError};
use crate::forum::erasure::{ErasureError, Target, message_id_from};
use crate::store::{Actor, ErasureEntry, ErasurePolicy};

carries_csrf!(EraseForm, PurgeForm);

/// What a member types to confirm.
const CONFIRMATION: &str = "erase my account";

pub async fn erase_page(
    State(state): State<AppState>,
    Member(session, _): Member,
) -> Result<Response, WebError> {
    Ok(erase_form(&state, &session, None).await?.into_response())
}

async fn erase_form(
    state: &AppState,
    session: &crate::store::Session,
    problem: Option<String>,
) -> Result<axum::response::Html<String>, WebError> {
    let id = session.user.id;
    let (_, messages) = state.read(move |s| s.member_posts(id, 0)).await?;
    Ok(view::render(&view::ErasePage {
        head: state.head(Some(session)),
        messages,
        redact: state.config.privacy.erasure == ErasurePolicy::Redact,
        problem,
    }))
}

#[derive(Debug, Deserialize)]
pub struct EraseForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

pub async fn erase_account(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(Member(session, _), form): CsrfForm<EraseForm>,
) -> Result<Response, WebError> {
    let typed = form
        .confirm
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if !typed.eq_ignore_ascii_case(CONFIRMATION) {
        let page = erase_form(
            &state,
            &session,
            Some(format!(
                "Type the words \"{CONFIRMATION}\" in the box to confirm; nothing has been erased."
            )),
        )
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let (config, user) = (Arc::clone(&state.config), session.user.id);
    let now = chrono::Utc::now().timestamp();
    let done = state
        .write(move |s| {
            Ok(crate::forum::erasure::erase(
                s,
                &config,
                &Target::Member(user),
                Actor::Member,
                None,
                now,
            ))
        })
        .await??;
    tracing::info!(erasure = done.erasure.0, "a member erased their account");
    // Giving up an event place may have moved someone up the waiting list: they are mailed.
    state.wake.notify_one();
    let jar = state.forget_session(jar);
    let page = view::MessagePage {
        head: state.head(None),
        heading: "Your account is erased".to_owned(),
        message: match done.policy {
            ErasurePolicy::Redact => format!(
                "Your account and everything it held are gone, and your {} archived messages now read \"This message was erased at its author's request\". Thank you for taking part.",
                done.counts.messages
            ),
            ErasurePolicy::Remove => format!(
                "Your account and everything it held are gone, and your {} archived messages are removed. Thank you for taking part.",
                done.counts.messages
            ),
        },
    };
    Ok((jar, view::render(&page)).into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct ErasuresQuery {
    message_id: Option<String>,
    done: Option<i64>,
}

pub async fn admin_page(
    State(state): State<AppState>,
    Query(q): Query<ErasuresQuery>,
    Admin(session, _): Admin,
) -> Result<Response, WebError> {
    let notice = q
        .done
        .map(|id| format!("Purged; audit entry {id}."))
        .unwrap_or_default();
    let page = PurgeForm {
        message_id: q.message_id.unwrap_or_default(),
        ..PurgeForm::default()
    };
    Ok(admin_view(&state, &session, &page, None, notice, None)
        .await?
        .into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct PurgeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    keep_subject: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// A purge in two steps: the form shows the message to be purged; its confirmation does it.
pub async fn purge(
    State(state): State<AppState>,
    CsrfForm(Admin(session, _), form): CsrfForm<PurgeForm, Admin<ToErasures>>,
) -> Result<Response, WebError> {
    let unprocessable = |page: axum::response::Html<String>| {
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let Some(message_id) = message_id_from(&form.message_id) else {
        let problem = "Give the Message-ID of the message to purge, or paste its permanent link.";
        return unprocessable(
            admin_view(&state, &session, &form, None, String::new(), Some(problem)).await?,
        );
    };
    if form.reason.trim().is_empty() {
        let problem = "Give a reason for the purge: it is kept in the audit log.";
        return unprocessable(
            admin_view(&state, &session, &form, None, String::new(), Some(problem)).await?,
        );
    }
    let id = message_id.clone();
    let Some(summary) = state.read(move |s| s.message_summary(&id)).await? else {
        let problem = "There is no message with that Message-ID in the archive.";
        return unprocessable(
            admin_view(&state, &session, &form, None, String::new(), Some(problem)).await?,
        );
    };
    if form.confirm.as_deref() != Some("yes") {
        let thread = summary.thread;
        let list = state.read(move |s| s.thread_info(thread)).await?;
        let confirm = view::PurgeConfirm {
            permalink: view::permalink(&message_id),
            message_id: message_id.into(),
            subject: state.subject(
                summary.subject.as_deref(),
                list.as_ref().map_or("", |(_, l)| l.as_str()),
            ),
            author: summary.author,
            date: view::Stamp::at(summary.date),
        };
        return Ok(
            admin_view(&state, &session, &form, Some(confirm), String::new(), None)
                .await?
                .into_response(),
        );
    }
    let (config, admin) = (Arc::clone(&state.config), session.user.id);
    let keep_subject = form.keep_subject.is_some();
    let reason = form.reason.trim().to_owned();
    let now = chrono::Utc::now().timestamp();
    let done = state
        .write(move |s| {
            Ok(crate::forum::erasure::purge(
                s,
                &config,
                &message_id,
                keep_subject,
                Actor::Admin(admin),
                &reason,
                now,
            ))
        })
        .await?;
    match done {
        Ok(done) => {
            Ok(Redirect::to(&format!("/admin/erasures?done={}", done.erasure.0)).into_response())
        }
        // Purged meanwhile by someone else.
        Err(ErasureError::NoSuchMessage(_)) => Err(WebError::NotFound("message")),
        Err(e) => {
            tracing::error!(error = %e, "a purge failed");
            Err(WebError::Internal)
        }
    }
}

async fn admin_view(
    state: &AppState,
    session: &crate::store::Session,
    form: &PurgeForm,
    confirm: Option<view::PurgeConfirm>,
    notice: String,
    problem: Option<&str>,
) -> Result<axum::response::Html<String>, WebError> {
    let entries = state.read(|s| s.erasures(200)).await?;
    Ok(view::render(&view::ErasuresPage {
        head: state.head(Some(session)),
        redact: state.config.privacy.erasure == ErasurePolicy::Redact,
        message_id: form.message_id.as_str().into(),
        reason: form.reason.clone(),
        keep_subject: form.keep_subject.is_some(),
        confirm,
        notice,
        problem: problem.map(str::to_owned),
        entries: entries.into_iter().map(row).collect(),
    }))
}

fn row(e: ErasureEntry) -> view::ErasureRow {
    let what = match e.kind.as_str() {
        "account" => "account erased",
        "address" => "an address's mail erased",
        _ => "message purged",
    };
    let who = match (e.actor.as_str(), e.actor_user) {
        ("member", _) => "the member".to_owned(),
        ("admin", Some(id)) => format!("admin (member {id})"),
        _ => "command line".to_owned(),
    };
    // Hashes shortened for the page (the command line shows them whole).
    let target = if e.kind == "message" {
        e.target
    } else {
        e.target
            .split_whitespace()
            .map(|h| format!("{}…", &h[..h.len().min(16)]))
            .collect::<Vec<_>>()
            .join(" ")
    };
    view::ErasureRow {
        id: e.id.0,
        when: view::Stamp::at(Some(e.at)),
        what,
        who,
        policy: e.policy,
        target,
        messages: e.counts.messages,
        copies: e.counts.copies,
        attachments: e.counts.attachments,
        other_rows: e.counts.other_rows,
        reason: e.reason.unwrap_or_default(),
    }
}
