//! A member's own pages: their account (profile, avatar, password, sign-out everywhere, the
//! download of what is held about them) and their public profile with everything they wrote,
//! including the archive's mail from their verified addresses, years before they joined.

use std::io::Cursor;

use axum::extract::{Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{self, check_csrf};
use super::extract::{CsrfForm, Id, Member, ToAccount, Viewer, carries_csrf};
use super::view;
use super::{AppState, WebError, download};
use crate::store::UserId;

carries_csrf!(ProfileForm, NewPasswordForm);

/// Uploads larger than this are refused before decoding.
pub const AVATAR_MAX_BYTES: usize = 5 << 20;
/// Avatars are stored as PNG squares of this size.
const AVATAR_PIXELS: u32 = 256;
/// The widest and tallest picture decoded: a phone's photo fits (4032x3024); a small file
/// that claims 8000x8000 pixels (250 MB decoded) is refused from its header, undecoded.
pub const AVATAR_MAX_SIDE: u32 = 4096;
/// What one decode may allocate: a picture at the largest size, 8 bits a channel with alpha,
/// and some room (the decoders' own buffers).
const AVATAR_MAX_ALLOC: u64 = (AVATAR_MAX_SIDE as u64 * AVATAR_MAX_SIDE as u64 * 4) + (16 << 20);
/// Decodes at once, server-wide: each may cost [`AVATAR_MAX_ALLOC`], so this bounds the
/// memory uploads can take however many arrive together (the others wait their turn).
pub const AVATAR_DECODES: usize = 2;

#[derive(Debug, Deserialize, Default)]
pub struct AccountQuery {
    welcome: Option<String>,
    saved: Option<String>,
}

pub async fn account(
    State(state): State<AppState>,
    Query(q): Query<AccountQuery>,
    Member(session, _): Member,
) -> Result<Response, WebError> {
    let id = session.user.id;
    let emails = state.read(move |s| s.user_emails(id)).await?;
    let notice = if q.welcome.is_some() {
        Some("Welcome! Your address is verified. Tell other members who you are: your name, organisation and role appear beside your posts.".to_owned())
    } else {
        q.saved.map(|what| format!("Your {what} is saved."))
    };
    Ok(account_page(&state, &session, emails, notice, None).into_response())
}

fn account_page(
    state: &AppState,
    session: &crate::store::Session,
    emails: Vec<String>,
    notice: Option<String>,
    problem: Option<String>,
) -> axum::response::Html<String> {
    view::render(&view::AccountPage {
        head: state.head(Some(session)),
        user: &session.user,
        emails,
        notice,
        problem,
    })
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    csrf: String,
    display_name: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    job_title: String,
    #[serde(default)]
    bio: String,
}

pub async fn save_profile(
    State(state): State<AppState>,
    CsrfForm(Member(mut session, _), form): CsrfForm<ProfileForm>,
) -> Result<Response, WebError> {
    let mut problems = Vec::new();
    let name = form.display_name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        problems.push("Your name must be 1 to 80 characters.");
    }
    if form.organisation.chars().count() > 120 || form.job_title.chars().count() > 120 {
        problems.push("Organisation and role must be at most 120 characters each.");
    }
    if form.bio.chars().count() > 1000 {
        problems.push("The short bio must be at most 1,000 characters.");
    }
    // The profile as sent: shown again with the problems, else saved.
    session.user.display_name = form.display_name;
    session.user.organisation = Some(form.organisation);
    session.user.job_title = Some(form.job_title);
    session.user.bio = Some(form.bio);
    if !problems.is_empty() {
        let id = session.user.id;
        let emails = state.read(move |s| s.user_emails(id)).await?;
        let page = account_page(&state, &session, emails, None, Some(problems.join(" ")));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    state
        .write(move |s| s.update_profile(&session.user))
        .await?;
    Ok(Redirect::to("/account?saved=profile").into_response())
}

#[derive(Debug, Deserialize)]
pub struct NewPasswordForm {
    csrf: String,
    password: String,
    confirm: String,
}

pub async fn set_password(
    State(state): State<AppState>,
    CsrfForm(Member(session, _), form): CsrfForm<NewPasswordForm, Member<ToAccount>>,
) -> Result<Response, WebError> {
    let id = session.user.id;
    let problem = if form.password.chars().count() < 12 {
        Some("Choose a password of at least 12 characters (a few words make a good one).")
    } else if form.password != form.confirm {
        Some("The two passwords differ: type the same password twice.")
    } else {
        None
    };
    if let Some(problem) = problem {
        let emails = state.read(move |s| s.user_emails(id)).await?;
        let page = account_page(&state, &session, emails, None, Some(problem.to_owned()));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let hash = auth::hash_password(form.password).await?;
    state
        .write(move |s| s.set_password_hash(id, Some(&hash)))
        .await?;
    Ok(Redirect::to("/account?saved=password").into_response())
}

/// The avatar upload: any common image, cropped to a square and stored as a small PNG.
pub async fn upload_avatar(
    State(state): State<AppState>,
    viewer: Viewer,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let session = viewer.member("/account")?;
    state.limits.uploading(session.user.id.0)?;
    let (mut csrf, mut image, mut remove) = (String::new(), Vec::new(), false);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| WebError::BadRequest(format!("The upload could not be read: {e}")))?
    {
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("remove") => remove = true,
            Some("avatar") => {
                let bytes = field.bytes().await.map_err(|_| {
                    WebError::BadRequest(
                        "The picture is larger than 5 MB: choose a smaller one.".into(),
                    )
                })?;
                image = bytes.to_vec();
            }
            _ => {}
        }
    }
    check_csrf(&session, &csrf)?;
    let id = session.user.id;
    if remove {
        state.write(move |s| s.set_avatar(id, None)).await?;
        return Ok(Redirect::to("/account?saved=picture").into_response());
    }
    if image.is_empty() {
        return Err(WebError::BadRequest(
            "Choose a picture to upload first.".into(),
        ));
    }
    // The permit travels with the decode, so a request given up on still holds it until its
    // decode ends.
    let permit = std::sync::Arc::clone(&state.decodes)
        .acquire_owned()
        .await
        .map_err(|e| WebError::internal(&e, "the decode queue is closed"))?;
    let png = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        resize_avatar(&image)
    })
    .await?
    .map_err(WebError::BadRequest)?;
    state.write(move |s| s.set_avatar(id, Some(&png))).await?;
    Ok(Redirect::to("/account?saved=picture").into_response())
}

/// Decodes an uploaded picture (with limits, so a crafted file cannot exhaust memory), crops it
/// to a centred square and encodes it as PNG.
pub fn resize_avatar(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let unreadable =
        || "That file is not a picture we can read: upload a JPEG, PNG, GIF or WebP.".to_owned();
    let reader = || {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|_| unreadable())
    };
    // The size the file's header claims, read before anything is decoded.
    let mut header = reader()?;
    header.no_limits();
    let (width, height) = header.into_dimensions().map_err(|_| unreadable())?;
    if width > AVATAR_MAX_SIDE || height > AVATAR_MAX_SIDE {
        return Err(format!(
            "The picture is {width}x{height} pixels; pictures up to {AVATAR_MAX_SIDE}x{AVATAR_MAX_SIDE} are accepted: make it smaller and upload it again."
        ));
    }
    let mut reader = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(AVATAR_MAX_SIDE);
    limits.max_image_height = Some(AVATAR_MAX_SIDE);
    limits.max_alloc = Some(AVATAR_MAX_ALLOC);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        // Within the size but more than a decode may take (16 bits a channel).
        image::ImageError::Limits(_) => format!(
            "The picture takes too much memory to read: save it with 8 bits a colour, or smaller than {AVATAR_MAX_SIDE}x{AVATAR_MAX_SIDE} pixels, and upload it again."
        ),
        _ => unreadable(),
    })?;
    let square = decoded.resize_to_fill(
        AVATAR_PIXELS,
        AVATAR_PIXELS,
        image::imageops::FilterType::Lanczos3,
    );
    let mut png = Vec::new();
    square
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| format!("The picture could not be converted: {e}"))?;
    Ok(png)
}

/// Initials on a coloured disc, for members without a picture.
pub fn initials_svg(name: &str, id: i64) -> String {
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    // Dark enough for white text at WCAG AA.
    const COLOURS: [&str; 6] = [
        "#005eb8", "#006747", "#7c2855", "#330072", "#8a1538", "#00566b",
    ];
    let colour = COLOURS[id.rem_euclid(COLOURS.len() as i64) as usize];
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" role=\"img\"><circle cx=\"32\" cy=\"32\" r=\"32\" fill=\"{colour}\"/><text x=\"32\" y=\"41\" font-family=\"Arial,sans-serif\" font-size=\"26\" text-anchor=\"middle\" fill=\"#fff\">{}</text></svg>",
        // Letters and digits only (filtered above): nothing to escape.
        initials
    )
}

pub async fn avatar(
    State(state): State<AppState>,
    Id(UserId(id)): Id<UserId>,
) -> Result<Response, WebError> {
    let found = state
        .read(move |s| Ok(s.user(UserId(id))?.map(|u| (u.display_name, u.has_avatar))))
        .await?
        .ok_or(WebError::NotFound("member"))?;
    let cache = (header::CACHE_CONTROL, "private, max-age=300");
    if found.1 {
        let png = state
            .read(move |s| s.avatar(UserId(id)))
            .await?
            .unwrap_or_default();
        return Ok(([(header::CONTENT_TYPE, "image/png"), cache], png).into_response());
    }
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml"), cache],
        initials_svg(&found.0, id),
    )
        .into_response())
}

pub async fn profile(
    State(state): State<AppState>,
    Id(UserId(id)): Id<UserId>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    let (user, (posts, total), interests) = state
        .read(move |s| {
            let Some(user) = s.user(UserId(id))? else {
                return Ok(None);
            };
            // The interests a member follows: those they get every post of.
            let prefs = s.interest_prefs(UserId(id))?;
            let interests: Vec<(String, String)> = s
                .interests()?
                .into_iter()
                .filter(|i| prefs.get(&i.id) == Some(&crate::store::InterestMode::Watch))
                .map(|i| (i.rules.slug, i.rules.name))
                .collect();
            Ok(Some((user, s.member_posts(UserId(id), 50)?, interests)))
        })
        .await?
        .ok_or(WebError::NotFound("member"))?;
    let page = view::ProfilePage {
        head: state.head(viewer.as_ref()),
        role: match user.role {
            crate::store::Role::Member => None,
            crate::store::Role::Moderator => Some("Moderator"),
            crate::store::Role::Admin => Some("Admin"),
        },
        joined: view::human(Some(user.created)),
        user,
        interests,
        total,
        posts: posts
            .into_iter()
            .map(|p| view::ProfilePost {
                permalink: view::permalink(&p.post.message_id),
                subject: state.subject(p.post.subject.as_deref(), &p.post.list),
                list: p.post.list,
                date: view::Stamp::at(p.date),
            })
            .collect(),
    };
    Ok(view::render(&page).into_response())
}

/// Everything held about the signed-in member, as JSON (their raw mail is the mbox beside it):
/// profile, addresses, mail preferences, posts, event registrations.
pub async fn export_json(
    State(state): State<AppState>,
    Member(session, _): Member<ToAccount>,
) -> Result<Response, WebError> {
    let user = session.user.id;
    let data = state
        .read(move |s| {
            let Some(profile) = s.user(user)? else {
                return Ok(None);
            };
            let addresses = s.user_emails(user)?;
            let preferences = s.preferences(user)?;
            let interests = s.interests()?;
            let (posts, _) = s.member_posts(user, usize::MAX >> 1)?;
            let registrations = s.member_registrations(user)?;
            Ok(Some(serde_json::json!({
                "profile": {
                    "id": profile.id.0,
                    "display_name": profile.display_name,
                    "organisation": profile.organisation,
                    "job_title": profile.job_title,
                    "bio": profile.bio,
                    "role": profile.role.as_str(),
                    "has_password": profile.has_password,
                    "has_picture": profile.has_avatar,
                    "joined": view::iso(Some(profile.created)),
                },
                "addresses": addresses,
                "mail": {
                    "delivery": preferences.delivery,
                    "digest": preferences.digest,
                    "digest_hour_utc": preferences.digest_hour,
                    "digest_weekday": preferences.digest_weekday,
                    "daily_cap": preferences.daily_cap,
                    "hear_of_likes": preferences.hear_of_likes,
                    "interests": interests
                        .iter()
                        .filter_map(|i| preferences.interests.get(&i.id).map(|m| (i.rules.slug.clone(), m.as_str())))
                        .collect::<std::collections::BTreeMap<_, _>>(),
                },
                "posts": posts
                    .iter()
                    .map(|p| serde_json::json!({
                        "message_id": p.post.message_id,
                        "list": p.post.list,
                        "subject": p.post.subject,
                        "date": view::iso(p.date),
                    }))
                    .collect::<Vec<_>>(),
                "event_registrations": registrations
                    .iter()
                    .map(|(id, title, starts, state)| serde_json::json!({
                        "event": id.0,
                        "title": title,
                        "starts": view::iso(Some(*starts)),
                        "state": state,
                    }))
                    .collect::<Vec<_>>(),
                "raw_mail": "/account/export.mbox",
            })))
        })
        .await?
        .ok_or(WebError::NotFound("account"))?;
    let json = serde_json::to_string_pretty(&data).unwrap_or_default();
    Ok(download(
        "application/json",
        "my-data.json",
        Some("no-store"),
        json,
    ))
}

/// Every archived mail sent from the member's verified addresses, as an mbox.
pub async fn export_mbox(
    State(state): State<AppState>,
    Member(session, _): Member<ToAccount>,
) -> Result<Response, WebError> {
    let user = session.user.id;
    let bytes = state
        .read(move |s| {
            let addresses = s.user_emails(user)?;
            let mut out = Vec::new();
            s.for_each_raw_from(&addresses, |raw| {
                let envelope = crate::mail::mbox::export_envelope(raw.envelope.as_deref());
                Ok(crate::mail::mbox::write_mboxrd(
                    &mut out,
                    Some(&envelope),
                    &raw.bytes,
                )?)
            })?;
            Ok(out)
        })
        .await?;
    Ok(download(
        "application/mbox",
        "my-mail.mbox",
        Some("no-store"),
        bytes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_are_escaped_and_short() {
        let svg = initials_svg("jane <b>doe", 3);
        assert!(
            svg.contains(">JB<") || svg.contains(">J&lt;<") || svg.contains(">JD<"),
            "{svg}"
        );
        assert!(!svg.contains("<b>"));
        assert!(initials_svg("", 1).contains("</text>"));
    }

    #[test]
    fn avatars_are_squared_and_bad_files_refused() {
        let mut png = Vec::new();
        image::DynamicImage::new_rgb8(640, 320)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let out = resize_avatar(&png).unwrap();
        let back = image::load_from_memory(&out).unwrap();
        assert_eq!(
            (back.width(), back.height()),
            (AVATAR_PIXELS, AVATAR_PIXELS)
        );
        assert!(
            resize_avatar(b"<html>not a picture</html>")
                .unwrap_err()
                .contains("not a picture")
        );
    }
}
