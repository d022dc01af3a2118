//! Interests on the web: the list of interests, each interest's threads and feed, moderators'
//! hand-set tags on a thread, members' choices (per interest, per thread, how and when mail
//! comes), the same choices from a signed link in any mail without signing in (and RFC 8058
//! one-click unsubscribe on it), likes, and admins' editing of the interests and their rules.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{
    Admin, CsrfForm, Id, Member, Moderator, ToFront, ToItem, Viewer, carries_csrf,
};
use super::pages::{ListReader, Listing, OwnedFilter, thread_list};
use super::view;
use super::{AppState, WebError};
use crate::store::{Interest, InterestMode, Preferences, Session, ThreadId, UserId};

carries_csrf!(TagForm, WatchForm, LikeForm, InterestPost);

pub async fn index(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    let interests = state.read(|s| s.interests()).await?;
    let page = view::InterestsPage {
        head: state.head(viewer.as_ref()),
        interests: interests
            .into_iter()
            .map(|i| {
                (
                    i.rules.slug,
                    i.rules.name,
                    i.description.unwrap_or_default(),
                )
            })
            .collect(),
    };
    Ok(view::render(&page).into_response())
}

pub async fn interest(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    reader: ListReader,
) -> Result<Response, WebError> {
    let lookup = slug.clone();
    let interest = state
        .read(move |s| s.interest_by_slug(&lookup))
        .await?
        .ok_or(WebError::NotFound("interest"))?;
    let heading = match &interest.description {
        Some(d) => format!("{}: {d}", interest.rules.name),
        None => interest.rules.name.clone(),
    };
    let listing = Listing {
        feed: Some(format!("/i/{slug}/feed.atom")),
        ..Listing::new(
            OwnedFilter::Interest(interest.id),
            heading,
            format!("/i/{slug}"),
        )
    };
    thread_list(&state, reader, listing).await
}

pub async fn feed(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, WebError> {
    let lookup = slug.clone();
    let (interest, page) = state
        .read(move |s| {
            let Some(i) = s.interest_by_slug(&lookup)? else {
                return Ok(None);
            };
            let page = s.interest_threads(i.id, 0, 30)?;
            Ok(Some((i, page)))
        })
        .await?
        .ok_or(WebError::NotFound("interest"))?;
    let title = format!("{}: {}", state.config.web.site_name, interest.rules.name);
    Ok(state.feed(
        &title,
        &format!("/i/{slug}/feed.atom"),
        super::api::thread_entries(page.items),
    ))
}

#[derive(Debug, Deserialize)]
pub struct TagForm {
    csrf: String,
    interest: String,
    action: String,
}

/// A moderator adds or removes an interest on a thread by hand.
pub async fn tag(
    State(state): State<AppState>,
    Id(ThreadId(id)): Id<ThreadId>,
    CsrfForm(Moderator(session, _), form): CsrfForm<TagForm, Moderator<ToItem>>,
) -> Result<Response, WebError> {
    let present = match form.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => {
            return Err(WebError::BadRequest(
                "Choose to add or to remove the interest.".into(),
            ));
        }
    };
    let (slug, user) = (form.interest.clone(), session.user.id);
    let now = chrono::Utc::now().timestamp();
    let found = state
        .read(move |s| {
            let Some(i) = s.interest_by_slug(&slug)? else {
                return Ok(false);
            };
            s.set_manual_tag(ThreadId(id), i.id, present, user, now)?;
            Ok(true)
        })
        .await?;
    if !found {
        return Err(WebError::NotFound("interest"));
    }
    Ok(Redirect::to(&format!("/t/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct WatchForm {
    csrf: String,
    mode: String,
}

/// A member watches or mutes a thread, or goes back to their interests' choices.
pub async fn watch(
    State(state): State<AppState>,
    Id(ThreadId(id)): Id<ThreadId>,
    CsrfForm(Member(session, _), form): CsrfForm<WatchForm, Member<ToItem>>,
) -> Result<Response, WebError> {
    let mode = match form.mode.as_str() {
        "watch" => Some("watch"),
        "mute" => Some("mute"),
        _ => None,
    };
    let user = session.user.id;
    state
        .read(move |s| s.set_thread_pref(user, ThreadId(id), mode))
        .await?;
    Ok(Redirect::to(&format!("/t/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LikeForm {
    csrf: String,
    message_id: String,
}

pub async fn like(
    State(state): State<AppState>,
    CsrfForm(Member(session, _), form): CsrfForm<LikeForm, Member<ToFront>>,
) -> Result<Response, WebError> {
    state.limits.posting(session.user.id.0)?;
    let (user, id) = (session.user.id, form.message_id.clone());
    let now = chrono::Utc::now().timestamp();
    let config = Arc::clone(&state.config);
    // Looked up as the viewer (a private list's post is not theirs to like unless a member).
    let wanted = id.clone();
    if state.read(move |s| s.locate(&wanted)).await?.is_none() {
        return Err(WebError::NotFound("post"));
    }
    let found = state
        .write(move |s| {
            if s.locate(&id)?.is_none() {
                return Ok(false);
            }
            let liked = s.toggle_like(user, &id, now)?;
            if liked {
                crate::forum::tell_author_of_like(s, &config, user, &id, now)?;
            }
            Ok(true)
        })
        .await?;
    if !found {
        return Err(WebError::NotFound("post"));
    }
    state.wake.notify_one();
    Ok(Redirect::to(&view::permalink(&form.message_id)).into_response())
}

/// Whose choices a preferences page shows: the signed-in member's, or those of the member a
/// signed link (its token) names.
#[derive(Clone, Copy)]
enum Chooser<'a> {
    Member(&'a Session),
    Link(&'a str),
}

/// The preferences form, for a signed-in member or from a signed link.
fn preferences_page(
    state: &AppState,
    who: Chooser,
    interests: &[Interest],
    prefs: &Preferences,
    notice: Option<String>,
) -> axum::response::Html<String> {
    let (head, action, csrf) = match who {
        Chooser::Member(session) => (
            state.head(Some(session)),
            "/account/preferences".to_owned(),
            session.csrf.clone(),
        ),
        Chooser::Link(token) => (
            state.head(None),
            format!("/preferences/{token}"),
            String::new(),
        ),
    };
    view::render(&view::PreferencesPage {
        head,
        action,
        csrf,
        interests: interests
            .iter()
            .map(|i| {
                let mode = prefs
                    .interests
                    .get(&i.id)
                    .copied()
                    .unwrap_or(InterestMode::Digest);
                (
                    i.rules.slug.clone(),
                    i.rules.name.clone(),
                    mode.as_str().to_owned(),
                )
            })
            .collect(),
        prefs,
        notice,
    })
}

pub async fn my_preferences(
    State(state): State<AppState>,
    Query(q): Query<SavedQuery>,
    Member(session, _): Member,
) -> Result<Response, WebError> {
    let user = session.user.id;
    let (interests, prefs) = state
        .read(move |s| Ok((s.interests()?, s.preferences(user)?)))
        .await?;
    let notice = q.saved.map(|_| "Your choices are saved.".to_owned());
    Ok(preferences_page(
        &state,
        Chooser::Member(&session),
        &interests,
        &prefs,
        notice,
    )
    .into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// The fields of the preferences form (interests arrive as `interest.SLUG=MODE`).
fn read_form(
    form: &[(String, String)],
    interests: &[Interest],
    before: &Preferences,
) -> Result<Preferences, String> {
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut prefs = before.clone();
    prefs.interests.clear();
    for i in interests {
        let mode = get(&format!("interest.{}", i.rules.slug)).unwrap_or("digest");
        let mode = InterestMode::parse(mode)
            .ok_or_else(|| format!("Choose watch, digest or mute for {}.", i.rules.name))?;
        prefs.interests.insert(i.id, mode);
    }
    if let Some(d) = get("delivery") {
        if !["all", "chosen", "none"].contains(&d) {
            return Err("Choose how posts reach you by mail.".into());
        }
        prefs.delivery = d.to_owned();
    } else if prefs.delivery == "all" {
        // Choosing is what ends "every post by mail" for the old list's members.
        prefs.delivery = "chosen".into();
    }
    if let Some(d) = get("digest") {
        if !["off", "daily", "weekly"].contains(&d) {
            return Err("Choose a daily or weekly digest, or none.".into());
        }
        prefs.digest = d.to_owned();
    }
    let number = |name: &str,
                  range: std::ops::RangeInclusive<u32>,
                  what: &str|
     -> Result<Option<u32>, String> {
        match get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "{what} must be a whole number from {} to {}.",
                        range.start(),
                        range.end()
                    )
                }),
        }
    };
    if let Some(h) = number("digest_hour", 0..=23, "The digest's hour")? {
        prefs.digest_hour = h;
    }
    if let Some(d) = number("digest_weekday", 1..=7, "The digest's day")? {
        prefs.digest_weekday = d;
    }
    if let Some(c) = number("daily_cap", 1..=500, "The most mails a day")? {
        prefs.daily_cap = c;
    }
    prefs.hear_of_likes = get("hear_of_likes").is_some();
    Ok(prefs)
}

async fn save(
    state: &AppState,
    user: UserId,
    form: Vec<(String, String)>,
) -> Result<Result<(), (Vec<Interest>, Preferences, String)>, WebError> {
    let (interests, before) = state
        .read(move |s| Ok((s.interests()?, s.preferences(user)?)))
        .await?;
    match read_form(&form, &interests, &before) {
        Ok(prefs) => {
            state
                .write(move |s| s.save_preferences(user, &prefs, chrono::Utc::now().timestamp()))
                .await?;
            Ok(Ok(()))
        }
        Err(problem) => Ok(Err((interests, before, problem))),
    }
}

pub async fn save_my_preferences(
    State(state): State<AppState>,
    CsrfForm(Member(session, _), form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    match save(&state, session.user.id, form).await? {
        Ok(()) => Ok(Redirect::to("/account/preferences?saved=1").into_response()),
        Err((interests, prefs, problem)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            preferences_page(
                &state,
                Chooser::Member(&session),
                &interests,
                &prefs,
                Some(problem),
            ),
        )
            .into_response()),
    }
}

/// The member a preferences link names, if it holds.
async fn link_member(state: &AppState, token: &str) -> Result<UserId, WebError> {
    let secret = state.read(|s| s.site_secret()).await?;
    crate::tokens::verify_member(&secret, token, chrono::Utc::now().timestamp())
        .map(UserId)
        .ok_or(WebError::Gone(
            "This link has expired or is not valid. Sign in to change your choices, or use the link in a newer mail.",
        ))
}

pub async fn link_preferences(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, WebError> {
    let user = link_member(&state, &token).await?;
    let (interests, prefs) = state
        .read(move |s| Ok((s.interests()?, s.preferences(user)?)))
        .await?;
    let notice = q.saved.map(|_| "Your choices are saved.".to_owned());
    // The link itself is the proof: the form needs no other token.
    Ok(preferences_page(&state, Chooser::Link(&token), &interests, &prefs, notice).into_response())
}

/// The preferences link takes a POST: RFC 8058's one-click unsubscribe (a body of
/// `List-Unsubscribe=One-Click`, no cookie), or the form's choices.
pub async fn link_save(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let user = link_member(&state, &token).await?;
    let one_click = form
        .iter()
        .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click");
    if one_click {
        state
            .write(move |s| {
                let mut prefs = s.preferences(user)?;
                prefs.delivery = "none".into();
                prefs.digest = "off".into();
                s.save_preferences(user, &prefs, chrono::Utc::now().timestamp())
            })
            .await?;
        let page = view::MessagePage {
            head: state.head(None),
            heading: "Unsubscribed".into(),
            message: "You will get no more mail about posts or digests. Sign-in links still reach you; the forum is as open to you as before.".into(),
        };
        return Ok(view::render(&page).into_response());
    }
    match save(&state, user, form).await? {
        Ok(()) => Ok(Redirect::to(&format!("/preferences/{token}?saved=1")).into_response()),
        Err((interests, prefs, problem)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            preferences_page(
                &state,
                Chooser::Link(&token),
                &interests,
                &prefs,
                Some(problem),
            ),
        )
            .into_response()),
    }
}

/// Admins: the interests and their rules.
pub async fn admin(
    State(state): State<AppState>,
    Admin(session, _): Admin,
) -> Result<Response, WebError> {
    let interests = state.read(|s| s.interests()).await?;
    Ok(admin_page(&state, &session, interests, None, None).into_response())
}

fn admin_page(
    state: &AppState,
    session: &crate::store::Session,
    interests: Vec<Interest>,
    problem: Option<String>,
    draft: Option<view::InterestForm>,
) -> axum::response::Html<String> {
    view::render(&view::AdminInterestsPage {
        head: state.head(Some(session)),
        interests: interests
            .into_iter()
            .map(|i| view::InterestForm {
                slug: i.rules.slug,
                name: i.rules.name,
                description: i.description.unwrap_or_default(),
                keywords: i.rules.keywords.join(", "),
                patterns: i.rules.patterns.join("\n"),
            })
            .collect(),
        draft: draft.unwrap_or_default(),
        problem,
    })
}

#[derive(Debug, Deserialize)]
pub struct InterestPost {
    csrf: String,
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    keywords: String,
    #[serde(default)]
    patterns: String,
    #[serde(default)]
    action: String,
}

pub async fn admin_save(
    State(state): State<AppState>,
    CsrfForm(Admin(session, _), form): CsrfForm<InterestPost, Admin>,
) -> Result<Response, WebError> {
    let slug = form.slug.trim().to_lowercase();
    if form.action == "delete" {
        let lookup = slug.clone();
        state
            .write(move |s| {
                if let Some(i) = s.interest_by_slug(&lookup)? {
                    s.delete_interest(i.id)?;
                }
                Ok(())
            })
            .await?;
        return Ok(Redirect::to("/admin/interests").into_response());
    }
    let keywords: Vec<String> = form
        .keywords
        .split([',', '\n'])
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let patterns: Vec<String> = form
        .patterns
        .lines()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let draft = view::InterestForm {
        slug: slug.clone(),
        name: form.name.trim().to_owned(),
        description: form.description.trim().to_owned(),
        keywords: form.keywords.clone(),
        patterns: form.patterns.clone(),
    };
    let rules = crate::tags::InterestRules {
        slug: slug.clone(),
        name: draft.name.clone(),
        keywords,
        patterns,
    };
    let problem = if slug.is_empty()
        || slug.len() > 64
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        Some("The short name (slug) must be 1 to 64 lowercase letters, digits, '-' or '_', such as \"asthma\".".to_owned())
    } else if draft.name.is_empty() {
        Some("Give the interest a name, such as \"Asthma\".".to_owned())
    } else if rules.keywords.is_empty() && rules.patterns.is_empty() {
        Some("Give at least one keyword: the words and phrases that mean this interest.".to_owned())
    } else {
        crate::tags::Tagger::new(std::slice::from_ref(&rules))
            .err()
            .map(|e| {
                format!("The rules do not work: {e}. Correct the pattern, or use keywords instead.")
            })
    };
    if let Some(problem) = problem {
        let interests = state.read(|s| s.interests()).await?;
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            admin_page(&state, &session, interests, Some(problem), Some(draft)),
        )
            .into_response());
    }
    let interest = Interest {
        id: crate::store::InterestId(0),
        rules,
        description: (!draft.description.is_empty()).then_some(draft.description),
    };
    let now = chrono::Utc::now().timestamp();
    state
        .write(move |s| s.save_interest(&interest, now).map(|_| ()))
        .await?;
    Ok(Redirect::to("/admin/interests").into_response())
}
