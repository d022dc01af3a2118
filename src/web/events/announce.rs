//! The form organisers announce an event with (`/events/new`): who may announce, the fields
//! read by hand (one `interest` field per ticked interest), dates read in the event's own time
//! zone, and the event announced through `forum::events` (archived, mailed to the list and
//! listed in one step); what is wrong is said in words on the form again.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeZone;

use super::{may_announce, now};
use crate::forum::Draft;
use crate::forum::events as out_events;
use crate::store::{EventDetails, InterestId, NewEvent, Session};
use crate::web::auth::check_csrf;
use crate::web::extract::{Member, Viewer};
use crate::web::view;
use crate::web::{AppState, WebError};

/// The announce form, empty.
pub async fn new_form(
    State(state): State<AppState>,
    Member(session, _): Member,
) -> Result<Response, WebError> {
    if !may_announce(&state, &session) {
        return Err(WebError::Forbidden);
    }
    let form = EventForm {
        time_zone: state.config.events.time_zone.clone(),
        ..EventForm::default()
    };
    Ok(form_page(&state, &session, &form, Vec::new())
        .await?
        .into_response())
}

/// The announce form as sent (read from its fields by hand: the interest checkboxes send one
/// `interest` field each).
#[derive(Debug, Default)]
pub struct EventForm {
    csrf: String,
    list: String,
    title: String,
    description: String,
    starts: String,
    ends: String,
    time_zone: String,
    place: String,
    online_url: String,
    capacity: String,
    deadline: String,
    payment_url: String,
    /// One ticket type a line: "Member | £40".
    tickets: String,
    /// The slugs of the interests ticked.
    interests: Vec<String>,
}

impl EventForm {
    fn from_fields(fields: Vec<(String, String)>) -> EventForm {
        let mut form = EventForm::default();
        for (name, value) in fields {
            let slot = match name.as_str() {
                "csrf" => &mut form.csrf,
                "list" => &mut form.list,
                "title" => &mut form.title,
                "description" => &mut form.description,
                "starts" => &mut form.starts,
                "ends" => &mut form.ends,
                "time_zone" => &mut form.time_zone,
                "place" => &mut form.place,
                "online_url" => &mut form.online_url,
                "capacity" => &mut form.capacity,
                "deadline" => &mut form.deadline,
                "payment_url" => &mut form.payment_url,
                "tickets" => &mut form.tickets,
                "interest" => {
                    form.interests.push(value);
                    continue;
                }
                _ => continue,
            };
            *slot = value;
        }
        form
    }
}

async fn form_page(
    state: &AppState,
    session: &Session,
    form: &EventForm,
    problems: Vec<String>,
) -> Result<axum::response::Html<String>, WebError> {
    let interests = state.read(|s| s.interests()).await?;
    let chosen: Vec<&str> = form.interests.iter().map(String::as_str).collect();
    let lists = announceable_lists(state).await?;
    Ok(view::render(&view::EventFormPage {
        head: state.head(Some(session)),
        list: if form.list.is_empty() {
            lists.first().cloned().unwrap_or_default()
        } else {
            form.list.clone()
        },
        lists,
        title: form.title.clone(),
        description: form.description.clone(),
        starts: form.starts.clone(),
        ends: form.ends.clone(),
        time_zone: form.time_zone.clone(),
        place: form.place.clone(),
        online_url: form.online_url.clone(),
        capacity: form.capacity.clone(),
        deadline: form.deadline.clone(),
        payment_url: form.payment_url.clone(),
        tickets: form.tickets.clone(),
        interests: interests
            .iter()
            .map(|i| {
                (
                    i.rules.slug.clone(),
                    i.rules.name.clone(),
                    chosen.contains(&i.rules.slug.as_str()),
                )
            })
            .collect(),
        problems,
    }))
}

/// The lists an event can be announced on: those with an address that the member may read
/// (the one rule of reads, so a private list is offered to its roster only).
async fn announceable_lists(state: &AppState) -> Result<Vec<String>, WebError> {
    let names: Vec<String> = state
        .config
        .lists
        .iter()
        .filter(|l| l.address.is_some())
        .map(|l| l.name.clone())
        .collect();
    state
        .read(move |s| {
            let mut readable = Vec::new();
            for name in names {
                if s.can_read_list(&name)? {
                    readable.push(name);
                }
            }
            Ok(readable)
        })
        .await
}

/// The number of places typed in a form (empty: no limit); a problem when it is not one.
pub(super) fn capacity(value: &str, problems: &mut Vec<String>) -> Option<u32> {
    match value.trim() {
        "" => None,
        c => match c.parse::<u32>() {
            Ok(n) if n <= 1_000_000 => Some(n),
            _ => {
                problems.push(
                    "Places must be a whole number (leave it empty for no limit).".to_owned(),
                );
                None
            }
        },
    }
}

/// A local date and time from the form ("2027-03-12T09:30") in `tz`, as unix seconds.
pub(super) fn local_time(
    value: &str,
    tz: chrono_tz::Tz,
    label: &str,
    problems: &mut Vec<String>,
) -> Option<i64> {
    let value = value.trim();
    if value.is_empty() {
        problems.push(format!("Give the {label} date and time."));
        return None;
    }
    let naive = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M"));
    let Ok(naive) = naive else {
        problems.push(format!(
            "The {label} time {value:?} is not a date and time: write it as 2027-03-12T09:30."
        ));
        return None;
    };
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Some(t.timestamp()),
        // The hour the clocks go back happens twice: the first is meant.
        chrono::LocalResult::Ambiguous(first, _) => Some(first.timestamp()),
        chrono::LocalResult::None => {
            problems.push(format!(
                "The {label} time {value} does not exist in {} (the clocks go forward then): choose another.",
                tz.name()
            ));
            None
        }
    }
}

pub(super) fn web_link(value: &str, label: &str, problems: &mut Vec<String>) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if (value.starts_with("https://") || value.starts_with("http://"))
        && !value.contains(char::is_whitespace)
        && value.len() <= 2000
    {
        Some(value.to_owned())
    } else {
        problems.push(format!(
            "The {label} must be a web address starting with https://."
        ));
        None
    }
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = EventForm::from_fields(fields);
    let session = viewer.member("/events/new")?;
    check_csrf(&session, &form.csrf)?;
    if !may_announce(&state, &session) {
        return Err(WebError::Forbidden);
    }
    let mut problems = Vec::new();
    let offered = announceable_lists(&state).await?;
    let list = state.list(&form.list).filter(|l| offered.contains(&l.name));
    if list.is_none() {
        problems.push("Choose the list to announce it on.".to_owned());
    }
    let title = form.title.trim().to_owned();
    if title.is_empty() {
        problems.push("Give the event a title.".to_owned());
    } else if title.chars().count() > 200 {
        problems.push("Shorten the title to at most 200 characters.".to_owned());
    }
    if form.description.trim().is_empty() {
        problems.push("Describe the event: what it is and who it is for.".to_owned());
    } else if form.description.chars().count() > crate::web::write::MAX_POST_CHARS {
        problems.push(format!(
            "Shorten the description to at most {} characters.",
            crate::web::write::MAX_POST_CHARS
        ));
    }
    let tz = match form.time_zone.trim().parse::<chrono_tz::Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            problems.push(format!(
                "The time zone {:?} is not known: use a name such as Europe/London.",
                form.time_zone.trim()
            ));
            None
        }
    };
    let (mut starts, mut ends, mut deadline) = (None, None, None);
    if let Some(tz) = tz {
        starts = local_time(&form.starts, tz, "start", &mut problems);
        ends = local_time(&form.ends, tz, "end", &mut problems);
        if !form.deadline.trim().is_empty() {
            deadline = local_time(&form.deadline, tz, "registration deadline", &mut problems);
        }
    }
    if let (Some(s), Some(e)) = (starts, ends)
        && e <= s
    {
        problems.push("The end must be after the start.".to_owned());
    }
    if let (Some(s), Some(d)) = (starts, deadline)
        && d > s
    {
        problems.push("The registration deadline must be before the event starts.".to_owned());
    }
    let capacity = capacity(&form.capacity, &mut problems);
    let place = Some(form.place.trim().to_owned()).filter(|p| !p.is_empty());
    let online_url = web_link(&form.online_url, "online link", &mut problems);
    let payment_url = web_link(&form.payment_url, "payment page", &mut problems);
    if place.is_none() && online_url.is_none() {
        problems.push("Say where it happens: a place, or an online link.".to_owned());
    }
    let mut tickets = Vec::new();
    for line in form
        .tickets
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (name, price) = line.split_once('|').unwrap_or((line, ""));
        let (name, price) = (name.trim(), price.trim());
        if name.is_empty() || name.chars().count() > 100 || price.chars().count() > 50 {
            problems.push(format!(
                "The ticket type {line:?} should read like \"Member | £40\"."
            ));
        } else {
            tickets.push((name.to_owned(), price.to_owned()));
        }
    }
    let all_interests = state.read(|s| s.interests()).await?;
    let interests: Vec<InterestId> = form
        .interests
        .iter()
        .filter_map(|slug| {
            all_interests
                .iter()
                .find(|i| &i.rules.slug == slug)
                .map(|i| i.id)
        })
        .collect();
    // An announcement with a patient's identifier is corrected on the form, not held: the
    // event's facts are in the form, not in a post a moderator could publish.
    if let Some(finding) = state.config.privacy_screen().check(
        &title,
        &format!("{}\n{}\n{}", form.description, form.place, form.tickets),
    ) {
        problems.push(format!(
            "This cannot be announced because {}: remove it and try again.",
            finding.reason
        ));
    }
    let (Some(list), Some(starts), Some(ends), Some(tz), true) =
        (list, starts, ends, tz, problems.is_empty())
    else {
        let page = form_page(&state, &session, &form, problems).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    state.limits.posting(session.user.id.0)?;
    let out = state.config.outbound.as_ref().ok_or_else(|| {
        WebError::BadRequest("This forum does not send mail, so events cannot be announced.".into())
    })?;
    let uid = format!(
        "event-{}@{}",
        crate::tokens::new_reply_key().to_lowercase(),
        out.domain()
    );
    let facts = [
        (
            "When",
            out_events::when_span(starts, ends, tz.name(), false),
        ),
        ("Where", place.clone().unwrap_or_default()),
        ("Online", online_url.clone().unwrap_or_default()),
        (
            "Places",
            capacity.map_or("no limit".to_owned(), |c| c.to_string()),
        ),
        (
            "Tickets",
            tickets
                .iter()
                .map(|(n, p)| {
                    if p.is_empty() {
                        n.clone()
                    } else {
                        format!("{n} ({p})")
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    let text = format!(
        "{}\nRegister on the event's page on the web, or accept the attached invitation in your calendar.\n",
        out_events::announcement_text(&form.description, &facts)
    );
    let draft = Draft {
        user: session.user.id,
        author_name: session.user.display_name.clone(),
        list: list.name.clone(),
        parent: None,
        subject: title.clone(),
        text,
        approved: false,
    };
    let new = NewEvent {
        list: crate::store::ListId(0),
        details: EventDetails {
            uid,
            title,
            description: form.description.trim().to_owned(),
            starts_at: starts,
            ends_at: ends,
            time_zone: tz.name().to_owned(),
            place,
            online_url,
            capacity,
            deadline,
            payment_url,
            organiser: Some(session.user.id),
            ..EventDetails::default()
        },
        source: "web",
        tickets,
        interests,
    };
    let config = Arc::clone(&state.config);
    let at = now();
    let result = state
        .write(move |s| Ok(out_events::announce(s, &config, &draft, new, at)))
        .await?;
    match crate::web::write::queued(&state, result)? {
        Ok((_, id)) => Ok(Redirect::to(&format!("/events/{}", id.0)).into_response()),
        Err(e) => {
            let page = form_page(&state, &session, &form, vec![e.to_string()]).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
