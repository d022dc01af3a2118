//! The admins' members page: every member with their role, addresses, lists and whether mail
//! to them is paused; an admin appoints or removes moderators and admins there (each change in
//! the moderation log, as `listbridge members role` does).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{Admin, CsrfForm, Id, ToMembers, carries_csrf};
use super::view;
use super::{AppState, WebError};
use crate::store::{Role, RoleChange, UserId};

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    done: String,
}

pub async fn page(
    State(state): State<AppState>,
    Admin(session, _): Admin,
    Query(query): Query<PageQuery>,
) -> Result<Response, WebError> {
    let members = state.read(|s| s.members_overview()).await?;
    let notice = match query.done.as_str() {
        "changed" => "The role is changed; the moderation log has it.",
        "unchanged" => "They had that role already.",
        "last-admin" => {
            "That is the only admin: make another member an admin first, then change this one."
        }
        _ => "",
    };
    Ok(view::render(&view::MembersPage {
        head: state.head(Some(&session)),
        members,
        notice: notice.to_owned(),
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    csrf: String,
    role: String,
}

carries_csrf!(RoleForm);

pub async fn change_role(
    State(state): State<AppState>,
    Id(id): Id<UserId>,
    CsrfForm(Admin(session, _), form): CsrfForm<RoleForm, Admin<ToMembers>>,
) -> Result<Response, WebError> {
    let Some(role) = Role::parse(&form.role) else {
        return Err(WebError::BadRequest(
            "Choose member, moderator or admin.".to_owned(),
        ));
    };
    let (by, now) = (session.user.id, chrono::Utc::now().timestamp());
    let changed = state
        .write(move |s| s.change_role(id, role, Some(by), now))
        .await?;
    let done = match changed {
        RoleChange::NoSuchMember => return Err(WebError::NotFound("member")),
        RoleChange::Changed { .. } => "changed",
        RoleChange::Unchanged(_) => "unchanged",
        RoleChange::LastAdmin => "last-admin",
    };
    Ok(Redirect::to(&format!("/admin/members?done={done}")).into_response())
}
