//! Events on the web: upcoming and past events, each event's page with its places and the
//! buttons to register or cancel, the form organisers announce an event with, the attendee
//! list and its CSV export, and iCalendar files: one per event and subscribable feeds of
//! upcoming events (all, or per interest). Places change through `forum::events`, which
//! records them and queues the mails in one transaction.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::TimeZone;
use serde::Deserialize;

use super::auth::{self, check_csrf};
use super::view;
use super::{AppState, WebError};
use crate::config::Organisers;
use crate::forum::events as out_events;
use crate::forum::{Draft, PostError};
use crate::mail::calendar::{self, Organizer};
use crate::mail::markup;
use crate::store::{Event, EventId, InterestId, NewEvent, Place, Registered, Role, Session};

/// Most events a list or feed shows.
const LIST_LIMIT: usize = 200;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn event_id(raw: &str) -> Result<EventId, WebError> {
    raw.parse()
        .map(EventId)
        .map_err(|_| WebError::NotFound("event"))
}

async fn load(state: &AppState, id: EventId) -> Result<Event, WebError> {
    state
        .read(move |s| s.event(id))
        .await?
        .ok_or(WebError::NotFound("event"))
}

/// Whether a member may announce events on the web.
fn may_announce(state: &AppState, session: &Session) -> bool {
    match state.config.events.organisers {
        Organisers::Members => true,
        Organisers::Moderators => session.user.role >= Role::Moderator,
    }
}

/// Whether a member runs this event (its organiser, or a moderator).
fn runs(session: &Session, event: &Event) -> bool {
    event.organiser == Some(session.user.id) || session.user.role >= Role::Moderator
}

fn row(event: &Event) -> view::EventRow {
    view::EventRow {
        id: event.id.0,
        title: event.title.clone(),
        when: out_events::when(event),
        start_iso: view::iso(Some(event.starts_at)),
        place: event
            .place
            .clone()
            .or_else(|| event.online_url.as_ref().map(|_| "Online".to_owned()))
            .unwrap_or_default(),
        places: places_text(event),
        cancelled: event.cancelled,
    }
}

/// "12 places left of 40", "Full: 3 waiting", "No limit".
fn places_text(event: &Event) -> String {
    match (event.capacity, event.places_left()) {
        (Some(_), Some(0)) if event.waiting > 0 => {
            format!("Full · {} on the waiting list", event.waiting)
        }
        (Some(_), Some(0)) => "Full · waiting list open".to_owned(),
        (Some(capacity), Some(left)) => format!("{left} of {capacity} places left"),
        _ => format!("{} registered", event.confirmed),
    }
}

pub async fn upcoming(State(state): State<AppState>, jar: CookieJar) -> Result<Response, WebError> {
    listing(state, jar, true).await
}

pub async fn past(State(state): State<AppState>, jar: CookieJar) -> Result<Response, WebError> {
    listing(state, jar, false).await
}

async fn listing(state: AppState, jar: CookieJar, upcoming: bool) -> Result<Response, WebError> {
    let session = state.viewer(&jar).await?;
    let at = now();
    let events = state
        .read(move |s| s.events(upcoming, at, None, LIST_LIMIT))
        .await?;
    let can_announce = session
        .as_ref()
        .is_some_and(|s| may_announce(&state, s) && state.config.outbound.is_some());
    Ok(view::render(&view::EventsPage {
        site: state.config.web.site_name.clone(),
        query: String::new(),
        me: auth::me(&session),
        upcoming,
        events: events.iter().map(row).collect(),
        can_announce,
    })
    .into_response())
}

pub async fn page(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = event_id(&id)?;
    let session = state.viewer(&jar).await?;
    let event = load(&state, id).await?;
    let mine = match &session {
        Some(s) => {
            let user = s.user.id;
            state.read(move |st| st.place(id, user)).await?
        }
        None => None,
    };
    Ok(event_page(&state, &session, &event, mine, None).into_response())
}

fn event_page(
    state: &AppState,
    session: &Option<Session>,
    event: &Event,
    mine: Option<Place>,
    notice: Option<String>,
) -> axum::response::Html<String> {
    let at = now();
    let (my_state, my_position) = match mine {
        Some(Place::Confirmed) => ("confirmed", 0),
        Some(Place::Waiting(n)) => ("waiting", n),
        _ => ("none", 0),
    };
    view::render(&view::EventPage {
        site: state.config.web.site_name.clone(),
        query: String::new(),
        me: auth::me(session),
        id: event.id.0,
        title: event.title.clone(),
        when: out_events::when(event),
        start_iso: view::iso(Some(event.starts_at)),
        place: event.place.clone().unwrap_or_default(),
        online_url: event
            .online_url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .unwrap_or_default(),
        description: markup::to_html(&event.description),
        thread: event.thread.map_or(0, |t| t.0),
        capacity: event.capacity.map_or(String::new(), |c| c.to_string()),
        confirmed: event.confirmed,
        waiting: event.waiting,
        places: places_text(event),
        full: event.places_left() == Some(0) || event.waiting > 0,
        open: event.open_at(at),
        deadline: event
            .deadline
            .map(|d| when_local(event, d, "%A %-d %B %Y, %H:%M (%Z)"))
            .unwrap_or_default(),
        cancelled: event.cancelled,
        tickets: event
            .tickets
            .iter()
            .map(|t| (t.id.0, t.name.clone(), t.price.clone()))
            .collect(),
        payment_url: event
            .payment_url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .unwrap_or_default(),
        my_state,
        my_position,
        organiser_view: session.as_ref().is_some_and(|s| runs(s, event)),
        notice: notice.unwrap_or_default(),
    })
}

/// A moment in the event's own zone, written with `format` (chrono's strftime).
fn when_local(event: &Event, at: i64, format: &str) -> String {
    let tz: chrono_tz::Tz = event.time_zone.parse().unwrap_or(chrono_tz::UTC);
    tz.timestamp_opt(at, 0)
        .single()
        .map(|t| t.format(format).to_string())
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    csrf: String,
    #[serde(default)]
    ticket: String,
}

pub async fn register(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<RegisterForm>,
) -> Result<Response, WebError> {
    let id = event_id(&id)?;
    let session = state.member(&jar, &format!("/events/{}", id.0)).await?;
    check_csrf(&session, &form.csrf)?;
    state.limits.posting(session.user.id.0)?;
    let event = load(&state, id).await?;
    let ticket = match form.ticket.trim() {
        "" => None,
        t => {
            let wanted: i64 = t
                .parse()
                .map_err(|_| WebError::BadRequest("Choose a ticket type from the list.".into()))?;
            let found = event.tickets.iter().find(|k| k.id.0 == wanted);
            Some(
                found
                    .ok_or_else(|| {
                        WebError::BadRequest("Choose a ticket type from the list.".into())
                    })?
                    .id,
            )
        }
    };
    if ticket.is_none() && !event.tickets.is_empty() {
        return Err(WebError::BadRequest(
            "Choose a ticket type, then register.".into(),
        ));
    }
    let (config, user) = (Arc::clone(&state.config), session.user.id);
    let at = now();
    let outcome = state
        .write(move |s| {
            Ok(out_events::register(
                s, &config, id, user, ticket, "web", at,
            ))
        })
        .await?
        .map_err(internal)?;
    state.wake.notify_one();
    let notice = match outcome {
        Registered::Now {
            place: Place::Confirmed,
            ..
        } => "You have a place. A confirmation with the event for your calendar is on its way by mail.".to_owned(),
        Registered::Now {
            place: Place::Waiting(n),
            ..
        } => format!("The event is full: you are number {n} on the waiting list. If a place comes free it is yours, and we will mail you."),
        Registered::Now { .. } | Registered::Already(_) => "You are already registered.".to_owned(),
        Registered::Closed => "Registration for this event is closed.".to_owned(),
    };
    let event = load(&state, id).await?;
    let mine = state.read(move |s| s.place(id, user)).await?;
    let status = if outcome == Registered::Closed {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        event_page(&state, &Some(session), &event, mine, Some(notice)),
    )
        .into_response())
}

fn internal(e: PostError) -> WebError {
    tracing::error!(error = %e, "an event change could not be stored");
    WebError::Internal
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn cancel(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let id = event_id(&id)?;
    let session = state.member(&jar, &format!("/events/{}", id.0)).await?;
    check_csrf(&session, &form.csrf)?;
    load(&state, id).await?;
    let (config, user) = (Arc::clone(&state.config), session.user.id);
    let at = now();
    let outcome = state
        .write(move |s| Ok(out_events::cancel(s, &config, id, user, at)))
        .await?
        .map_err(internal)?;
    state.wake.notify_one();
    let notice = match outcome {
        Some(_) => {
            "Your place is cancelled. A mail with the update for your calendar is on its way."
        }
        None => "You had no place to cancel.",
    };
    let event = load(&state, id).await?;
    let mine = state.read(move |s| s.place(id, user)).await?;
    Ok(event_page(
        &state,
        &Some(session),
        &event,
        mine,
        Some(notice.to_owned()),
    )
    .into_response())
}

/// One event as an iCalendar file (to add to a calendar by hand).
pub async fn ics(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = event_id(id.trim_end_matches(".ics"))?;
    let event = load(&state, id).await?;
    let body = calendar::write_feed(
        &event.title,
        &[out_events::cal_event(&state.config, &event, 0)],
        organizer(&state),
        now(),
    );
    Ok(calendar_response(body, &format!("event-{}.ics", id.0)))
}

fn organizer(state: &AppState) -> Organizer<'_> {
    Organizer {
        name: &state.config.web.site_name,
        address: state
            .config
            .outbound
            .as_ref()
            .map_or("", |o| o.from_address.as_str()),
    }
}

fn calendar_response(body: String, name: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "public, max-age=300".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// The feed of upcoming events that calendar apps subscribe to.
pub async fn feed(State(state): State<AppState>) -> Result<Response, WebError> {
    let at = now();
    let events = state
        .read(move |s| s.events(true, at, None, LIST_LIMIT))
        .await?;
    Ok(feed_response(&state, "events", &events, at))
}

/// Upcoming events of one interest, as a feed.
pub async fn interest_feed(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, WebError> {
    let at = now();
    let found = state
        .read(move |s| {
            let Some(interest) = s.interest_by_slug(&slug)? else {
                return Ok(None);
            };
            Ok(Some((
                interest.name.clone(),
                s.events(true, at, Some(interest.id), LIST_LIMIT)?,
            )))
        })
        .await?;
    let (name, events) = found.ok_or(WebError::NotFound("interest"))?;
    Ok(feed_response(
        &state,
        &format!("{name} events"),
        &events,
        at,
    ))
}

/// A feed of `events`, named "SITE: what".
fn feed_response(state: &AppState, what: &str, events: &[Event], at: i64) -> Response {
    let cal: Vec<_> = events
        .iter()
        .map(|e| out_events::cal_event(&state.config, e, 0))
        .collect();
    let name = format!("{}: {what}", state.config.web.site_name);
    calendar_response(
        calendar::write_feed(&name, &cal, organizer(state), at),
        "events.ics",
    )
}

/// The event and its organiser's (or a moderator's) session; anyone else is refused.
async fn run_by(
    state: &AppState,
    jar: &CookieJar,
    id: EventId,
) -> Result<(Event, Session), WebError> {
    let event = load(state, id).await?;
    let session = state
        .member(jar, &format!("/events/{}/attendees", id.0))
        .await?;
    if !runs(&session, &event) {
        return Err(WebError::Forbidden);
    }
    Ok((event, session))
}

/// The organiser's view: everyone registered, in order.
pub async fn attendees(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = event_id(&id)?;
    let (event, session) = run_by(&state, &jar, id).await?;
    let rows = state.read(move |s| s.attendees(id)).await?;
    Ok(view::render(&view::AttendeesPage {
        site: state.config.web.site_name.clone(),
        query: String::new(),
        me: auth::me(&Some(session)),
        id: id.0,
        title: event.title.clone(),
        places: places_text(&event),
        capacity: event.capacity.map_or(String::new(), |c| c.to_string()),
        deadline: event
            .deadline
            // As the form's datetime-local field takes it.
            .map(|d| when_local(&event, d, "%Y-%m-%dT%H:%M"))
            .unwrap_or_default(),
        payment_url: event.payment_url.clone().unwrap_or_default(),
        time_zone: event.time_zone.clone(),
        rows: rows
            .into_iter()
            .map(|a| view::AttendeeRow {
                user: a.user.0,
                name: a.name,
                address: a.address.unwrap_or_default(),
                organisation: a.organisation.unwrap_or_default(),
                state: place_words(a.place),
                ticket: a.ticket.unwrap_or_default(),
                registered: view::human(Some(a.registered)),
                via: a.via,
            })
            .collect(),
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct LimitsForm {
    csrf: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    deadline: String,
    #[serde(default)]
    payment_url: String,
}

/// The organiser changes the places, the registration deadline or the payment page (an event
/// that came by mail has none of them until then).
pub async fn save_limits(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<LimitsForm>,
) -> Result<Response, WebError> {
    let id = event_id(&id)?;
    let (event, session) = run_by(&state, &jar, id).await?;
    check_csrf(&session, &form.csrf)?;
    let mut problems = Vec::new();
    let capacity = match form.capacity.trim() {
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
    };
    let tz: chrono_tz::Tz = event.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let deadline = if form.deadline.trim().is_empty() {
        None
    } else {
        local_time(&form.deadline, tz, "registration deadline", &mut problems)
    };
    if deadline.is_some_and(|d| d > event.starts_at) {
        problems.push("The registration deadline must be before the event starts.".to_owned());
    }
    let payment_url = web_link(&form.payment_url, "payment page", &mut problems);
    if !problems.is_empty() {
        return Err(WebError::BadRequest(problems.join(" ")));
    }
    let config = Arc::clone(&state.config);
    let at = now();
    state
        .write(move |s| {
            Ok(out_events::set_limits(
                s,
                &config,
                id,
                capacity,
                deadline,
                payment_url.as_deref(),
                at,
            ))
        })
        .await?
        .map_err(internal)?;
    state.wake.notify_one();
    Ok(Redirect::to(&format!("/events/{}/attendees?saved=1", id.0)).into_response())
}

fn place_words(place: Place) -> String {
    match place {
        Place::Confirmed => "Confirmed".to_owned(),
        Place::Waiting(n) => format!("Waiting ({n})"),
        Place::Cancelled => "Cancelled".to_owned(),
    }
}

pub async fn attendees_csv(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = event_id(&id)?;
    run_by(&state, &jar, id).await?;
    let rows = state.read(move |s| s.attendees(id)).await?;
    let mut csv = String::from("name,email,organisation,state,position,ticket,registered,via\r\n");
    for a in rows {
        let (state_word, position) = match a.place {
            Place::Confirmed => ("confirmed", String::new()),
            Place::Waiting(n) => ("waiting", n.to_string()),
            Place::Cancelled => ("cancelled", String::new()),
        };
        let cells = [
            a.name,
            a.address.unwrap_or_default(),
            a.organisation.unwrap_or_default(),
            state_word.to_owned(),
            position,
            a.ticket.unwrap_or_default(),
            view::iso(Some(a.registered)),
            a.via,
        ];
        let line: Vec<String> = cells
            .iter()
            .map(|c| super::engagement::csv_field(c))
            .collect();
        csv.push_str(&line.join(","));
        csv.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"event-{}-attendees.csv\"", id.0),
            ),
        ],
        csv,
    )
        .into_response())
}

/// The announce form, empty.
pub async fn new_form(State(state): State<AppState>, jar: CookieJar) -> Result<Response, WebError> {
    let session = state.member(&jar, "/events/new").await?;
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
    let lists: Vec<String> = state
        .config
        .lists
        .iter()
        .filter(|l| l.address.is_some())
        .map(|l| l.name.clone())
        .collect();
    Ok(view::render(&view::EventFormPage {
        site: state.config.web.site_name.clone(),
        query: String::new(),
        me: auth::me(&Some(session.clone())),
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
                    i.slug.clone(),
                    i.name.clone(),
                    chosen.contains(&i.slug.as_str()),
                )
            })
            .collect(),
        problems,
    }))
}

/// A local date and time from the form ("2027-03-12T09:30") in `tz`, as unix seconds.
fn local_time(
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

fn web_link(value: &str, label: &str, problems: &mut Vec<String>) -> Option<String> {
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
    jar: CookieJar,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = EventForm::from_fields(fields);
    let session = state.member(&jar, "/events/new").await?;
    check_csrf(&session, &form.csrf)?;
    if !may_announce(&state, &session) {
        return Err(WebError::Forbidden);
    }
    let mut problems = Vec::new();
    let list = state
        .config
        .lists
        .iter()
        .find(|l| l.name == form.list && l.address.is_some());
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
    } else if form.description.chars().count() > super::write::MAX_POST_CHARS {
        problems.push(format!(
            "Shorten the description to at most {} characters.",
            super::write::MAX_POST_CHARS
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
    let capacity = match form.capacity.trim() {
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
    };
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
        .filter_map(|slug| all_interests.iter().find(|i| &i.slug == slug).map(|i| i.id))
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
        uid,
        sequence: 0,
        message_id: String::new(),
        list: crate::store::ListId(0),
        title,
        description: form.description.trim().to_owned(),
        starts_at: starts,
        ends_at: ends,
        time_zone: tz.name().to_owned(),
        all_day: false,
        place,
        online_url,
        capacity,
        deadline,
        payment_url,
        organiser: Some(session.user.id),
        organiser_email: None,
        source: "web",
        tickets,
        interests,
    };
    let config = Arc::clone(&state.config);
    let at = now();
    let result = state
        .write(move |s| Ok(out_events::announce(s, &config, &draft, new, at)))
        .await?;
    match result {
        Ok((_, id)) => {
            state.wake.notify_one();
            Ok(Redirect::to(&format!("/events/{}", id.0)).into_response())
        }
        Err(PostError::Store(e)) => {
            tracing::error!(error = %e, "an event could not be stored");
            Err(WebError::Internal)
        }
        Err(e) => {
            let page = form_page(&state, &session, &form, vec![e.to_string()]).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
