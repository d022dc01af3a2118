//! Moderators' queue of held posts (patient-identifiable data found before publishing): read
//! each with why it was held, publish it (a web post's text corrected first if need be) or
//! reject it with a reason its author is told.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::auth::{self, check_csrf};
use super::view;
use super::{AppState, WebError};
use crate::ingest::held::{Decided, Decision};
use crate::store::{HeldId, HeldKind, Role};

#[derive(Debug, Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn queue(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    let session = state.staff(&jar, "/admin/held", Role::Moderator).await?;
    let held = state.read(|s| s.held_posts(200)).await?;
    let notice = match done.done.as_deref() {
        Some("published") => "Published.",
        Some("rejected") => "Rejected; the author is told why.",
        Some("gone") => "Another moderator had already decided on that post.",
        _ => "",
    };
    Ok(view::render(&view::HeldPage {
        site: state.config.web.site_name.clone(),
        query: String::new(),
        me: auth::me(&Some(session)),
        posts: held
            .into_iter()
            .map(|h| view::HeldRow {
                id: h.id.0,
                subject: h.subject,
                author: h
                    .author_name
                    .or(h.sender)
                    .unwrap_or_else(|| "someone".to_owned()),
                list: h.list_name,
                kind: match h.kind {
                    HeldKind::Web { .. } => "web post",
                    HeldKind::Mail { .. } => "mail",
                },
                editable: matches!(h.kind, HeldKind::Web { .. }),
                when_iso: view::iso(Some(h.created)),
                when_human: view::human(Some(h.created)),
                reason: h.reason,
                body: h.body,
            })
            .collect(),
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
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, WebError> {
    let id = HeldId(id.parse().map_err(|_| WebError::NotFound("held post"))?);
    let session = state.staff(&jar, "/admin/held", Role::Moderator).await?;
    check_csrf(&session, &form.csrf)?;
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
    let (config, moderator) = (Arc::clone(&state.config), session.user.id);
    let now = chrono::Utc::now().timestamp();
    let decided = state
        .write(move |s| {
            Ok(crate::ingest::held::decide(
                s, &config, id, moderator, decision, now,
            ))
        })
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "a decision on a held post failed");
            WebError::Internal
        })?;
    state.wake.notify_one();
    let done = match decided {
        Decided::Published(_) => "published",
        Decided::Rejected => "rejected",
        Decided::Gone => "gone",
    };
    Ok((
        StatusCode::SEE_OTHER,
        Redirect::to(&format!("/admin/held?done={done}")),
    )
        .into_response())
}
