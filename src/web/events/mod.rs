//! Events on the web: upcoming and past events, each event's page with its places and the
//! buttons to register or cancel, the organiser's attendee list (with its CSV export and the
//! places, deadline and payment page they may change), and iCalendar files: one per event and
//! subscribable feeds of upcoming events (all, or per interest). Places change through
//! `forum::events`, which records them and queues the mails in one transaction. The form
//! organisers announce an event with is `announce`.

mod announce;

use announce::{capacity, local_time, web_link};
pub use announce::{create, new_form};

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeZone;
use serde::Deserialize;

use super::auth::check_csrf;
use super::extract::{CsrfForm, Id, Member, ToItem, TokenOnly, Viewer, carries_csrf};
use super::view;
use super::{AppState, WebError, download};
use crate::config::Organisers;
use crate::forum::events as out_events;
use crate::mail::calendar::{self, Organizer};
use crate::mail::markup;
use crate::store::{Event, EventId, Place, Registered, Role, Session};

carries_csrf!(RegisterForm);

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
    event.details.organiser == Some(session.user.id) || session.user.role >= Role::Moderator
}

fn row(event: &Event) -> view::EventRow {
    view::EventRow {
        id: event.id.0,
        title: event.details.title.clone(),
        when: out_events::when(&event.details),
        start_iso: view::iso(Some(event.details.starts_at)),
        place: event
            .details
            .place
            .clone()
            .or_else(|| {
                event
                    .details
                    .online_url
                    .as_ref()
                    .map(|_| "Online".to_owned())
            })
            .unwrap_or_default(),
        places: places_text(event),
        cancelled: event.cancelled,
    }
}

/// "12 places left of 40", "Full: 3 waiting", "No limit".
fn places_text(event: &Event) -> String {
    match (event.details.capacity, event.places_left()) {
        (Some(_), Some(0)) if event.waiting > 0 => {
            format!("Full · {} on the waiting list", event.waiting)
        }
        (Some(_), Some(0)) => "Full · waiting list open".to_owned(),
        (Some(capacity), Some(left)) => format!("{left} of {capacity} places left"),
        _ => format!("{} registered", event.confirmed),
    }
}

pub async fn upcoming(
    State(state): State<AppState>,
    Viewer(session): Viewer,
) -> Result<Response, WebError> {
    listing(state, session, true).await
}

pub async fn past(
    State(state): State<AppState>,
    Viewer(session): Viewer,
) -> Result<Response, WebError> {
    listing(state, session, false).await
}

async fn listing(
    state: AppState,
    session: Option<Session>,
    upcoming: bool,
) -> Result<Response, WebError> {
    let at = now();
    let events = state
        .read(move |s| s.events(upcoming, at, None, LIST_LIMIT))
        .await?;
    let can_announce = session
        .as_ref()
        .is_some_and(|s| may_announce(&state, s) && state.config.outbound.is_some());
    Ok(view::render(&view::EventsPage {
        head: state.head(session.as_ref()),
        upcoming,
        events: events.iter().map(row).collect(),
        can_announce,
    })
    .into_response())
}

pub async fn page(
    State(state): State<AppState>,
    Id(id): Id<EventId>,
    Viewer(session): Viewer,
) -> Result<Response, WebError> {
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
        head: state.head(session.as_ref()),
        event,
        when: out_events::when(&event.details),
        start_iso: view::iso(Some(event.details.starts_at)),
        place: event.details.place.clone().unwrap_or_default(),
        online_url: event
            .details
            .online_url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .unwrap_or_default(),
        description: markup::to_html(&event.details.description),
        thread: event.thread.map_or(0, |t| t.0),
        capacity: event
            .details
            .capacity
            .map_or(String::new(), |c| c.to_string()),
        places: places_text(event),
        full: event.places_left() == Some(0) || event.waiting > 0,
        open: event.open_at(at),
        deadline: event
            .details
            .deadline
            .map(|d| when_local(event, d, "%A %-d %B %Y, %H:%M (%Z)"))
            .unwrap_or_default(),
        tickets: event
            .tickets
            .iter()
            .map(|t| (t.id.0, t.name.clone(), t.price.clone()))
            .collect(),
        payment_url: event
            .details
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
    let tz: chrono_tz::Tz = event.details.time_zone.parse().unwrap_or(chrono_tz::UTC);
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
    Id(id): Id<EventId>,
    CsrfForm(Member(session, _), form): CsrfForm<RegisterForm, Member<ToItem>>,
) -> Result<Response, WebError> {
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
    let user = session.user.id;
    let outcome = state
        .act(move |s, config, at| {
            let registration = out_events::Registration {
                event: id,
                user,
                ticket,
                via: "web",
            };
            Ok(out_events::register(s, config, registration, at))
        })
        .await?;
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

pub async fn cancel(
    State(state): State<AppState>,
    Id(id): Id<EventId>,
    CsrfForm(Member(session, _), _): CsrfForm<TokenOnly, Member<ToItem>>,
) -> Result<Response, WebError> {
    load(&state, id).await?;
    let user = session.user.id;
    let outcome = state
        .act(move |s, config, at| Ok(out_events::cancel(s, config, id, user, at)))
        .await?;
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
        &event.details.title,
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
                interest.rules.name.clone(),
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
    viewer: Viewer,
    id: EventId,
) -> Result<(Event, Session), WebError> {
    let event = load(state, id).await?;
    let session = viewer.member(&format!("/events/{}/attendees", id.0))?;
    if !runs(&session, &event) {
        return Err(WebError::Forbidden);
    }
    Ok((event, session))
}

/// The organiser's view: everyone registered, in order.
pub async fn attendees(
    State(state): State<AppState>,
    Id(id): Id<EventId>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let (event, session) = run_by(&state, viewer, id).await?;
    let rows = state.read(move |s| s.attendees(id)).await?;
    Ok(view::render(&view::AttendeesPage {
        head: state.head(Some(&session)),
        id: id.0,
        title: event.details.title.clone(),
        places: places_text(&event),
        capacity: event
            .details
            .capacity
            .map_or(String::new(), |c| c.to_string()),
        deadline: event
            .details
            .deadline
            // As the form's datetime-local field takes it.
            .map(|d| when_local(&event, d, "%Y-%m-%dT%H:%M"))
            .unwrap_or_default(),
        payment_url: event.details.payment_url.clone().unwrap_or_default(),
        time_zone: event.details.time_zone.clone(),
        rows: rows
            .into_iter()
            .map(|a| view::AttendeeRow {
                state: place_words(a.place),
                registered: view::human(Some(a.registered)),
                attendee: a,
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
    Id(id): Id<EventId>,
    viewer: Viewer,
    Form(form): Form<LimitsForm>,
) -> Result<Response, WebError> {
    let (event, session) = run_by(&state, viewer, id).await?;
    check_csrf(&session, &form.csrf)?;
    let mut problems = Vec::new();
    let capacity = capacity(&form.capacity, &mut problems);
    let tz: chrono_tz::Tz = event.details.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let deadline = if form.deadline.trim().is_empty() {
        None
    } else {
        local_time(&form.deadline, tz, "registration deadline", &mut problems)
    };
    if deadline.is_some_and(|d| d > event.details.starts_at) {
        problems.push("The registration deadline must be before the event starts.".to_owned());
    }
    let payment_url = web_link(&form.payment_url, "payment page", &mut problems);
    if !problems.is_empty() {
        return Err(WebError::BadRequest(problems.join(" ")));
    }
    state
        .act(move |s, config, at| {
            Ok(out_events::set_limits(
                s,
                config,
                id,
                capacity,
                deadline,
                payment_url.as_deref(),
                at,
            ))
        })
        .await?;
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
    Id(id): Id<EventId>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    run_by(&state, viewer, id).await?;
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
    let name = format!("event-{}-attendees.csv", id.0);
    Ok(download("text/csv; charset=utf-8", &name, None, csv))
}
