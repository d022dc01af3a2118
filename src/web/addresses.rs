//! Addresses kept from readers who are not signed in (`[web] hide_addresses`, on by default).
//! What counts as an address, and how it is shortened ("ja…@nhs.net"), is the pure core's
//! (`crate::mail::hiding`). Threads, thread lists, search, feeds and the JSON API shorten them
//! while they are drawn, from the text of the mail and the names they show, before they are
//! cached, and say so ([`Hidden`]); the layer here passes those by untouched. Their links name
//! a message by its Message-ID unless that id is also someone's address (a sender's or a
//! member's: anyone can give a mail such an id), when the post is linked by its place in its
//! thread instead. Every other answer (other pages, calendars, text attachments) is shortened
//! by the layer, as a backstop no route can forget, without reading the store: an identifier
//! that looks like an address is left alone only where the page itself writes one (a
//! permalink's path, a JSON `message_id` or `parent`, an iCalendar `UID`), never because the
//! archive knows it. Raw mail downloads (mbox), which are full of addresses, go to the sign-in
//! page.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::access::VIEWER;
use super::{AppState, WebError};
use crate::mail::hiding::{hide_addresses, hide_addresses_except};

/// Pages larger than this are not rewritten (none of ours is; it bounds the buffering).
const MAX_FILTERED_BYTES: usize = 16 << 20;

/// A response extension: its addresses were shortened while it was drawn.
#[derive(Clone, Copy)]
pub struct Hidden;

/// `text` as this reader may see it: shortened when `hide`.
pub(super) fn shown(text: &str, hide: bool) -> String {
    if hide {
        hide_addresses(text).into_owned()
    } else {
        text.to_owned()
    }
}

impl AppState {
    /// Whether this request's reader is kept from addresses (not signed in, hiding on).
    pub(super) fn hides_addresses(&self) -> bool {
        self.config.web.hide_addresses && VIEWER.try_with(|v| v.is_none()).unwrap_or(true)
    }

    /// A feed as this reader may read it, its addresses shortened as it is drawn.
    pub(super) fn feed(
        &self,
        title: &str,
        self_link: &str,
        mut entries: Vec<super::view::FeedEntry>,
    ) -> Response {
        let hide = self.hides_addresses();
        if !hide {
            return super::api::atom(title, self_link, &entries);
        }
        for e in &mut entries {
            e.title = shown(&e.title, true);
            e.author = shown(&e.author, true);
            e.summary = shown(&e.summary, true);
        }
        let mut response = super::api::atom(&shown(title, true), self_link, &entries);
        response.extensions_mut().insert(Hidden);
        response
    }
}

/// The JSON fields that hold a Message-ID.
const ID_KEYS: [&str; 3] = ["message_id", "parent", "in_reply_to"];

/// The Message-IDs a JSON answer holds (in [`ID_KEYS`] fields).
fn json_ids(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match v {
                    serde_json::Value::String(id) if ID_KEYS.contains(&key.as_str()) => {
                        out.push(id.clone());
                    }
                    _ => json_ids(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_ids(v, out)),
        _ => {}
    }
}

/// A JSON answer with every address in its text shortened; a Message-ID is kept unless it is
/// also someone's address (`known`, lowercased).
fn hide_json(value: &mut serde_json::Value, known: &std::collections::HashSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    serde_json::Value::String(id) if ID_KEYS.contains(&key.as_str()) => {
                        if known.contains(&id.to_lowercase()) {
                            *id = crate::mail::hiding::shortened(id);
                        }
                    }
                    _ => hide_json(v, known),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| hide_json(v, known)),
        serde_json::Value::String(text) => {
            if let std::borrow::Cow::Owned(hidden) = hide_addresses(text) {
                *text = hidden;
            }
        }
        _ => {}
    }
}

impl AppState {
    /// A JSON answer as this reader may read it: for a reader kept from addresses, shortened
    /// as it is made (and marked, so the layer leaves it alone).
    pub(super) async fn json(&self, mut value: serde_json::Value) -> Result<Response, WebError> {
        if !self.hides_addresses() {
            return Ok(axum::Json(value).into_response());
        }
        let mut ids = Vec::new();
        json_ids(&value, &mut ids);
        let known = if ids.is_empty() {
            Default::default()
        } else {
            let ids: Vec<crate::store::MessageId> =
                ids.into_iter().map(crate::store::MessageId::new).collect();
            self.read(move |s| s.ids_known_as_addresses(&ids)).await?
        };
        hide_json(&mut value, &known);
        let mut response = axum::Json(value).into_response();
        response.extensions_mut().insert(Hidden);
        Ok(response)
    }
}

/// Where a page writes a Message-ID or a calendar UID itself: the text just before one.
const ID_PLACES: [&str; 6] = [
    "/m/",
    "/api/messages/",
    "\"message_id\":\"",
    "\"parent\":\"",
    "\nUID:",
    "\r\nUID:",
];

/// `text` with every address shortened, except an identifier where the page writes one.
pub fn hide(text: &str) -> String {
    hide_addresses_except(text, |before, _| {
        ID_PLACES.iter().any(|p| before.ends_with(p))
    })
    .into_owned()
}

/// The layer: for a reader not signed in, raw mail goes to the sign-in page and text has its
/// addresses shortened.
pub async fn hide_from_anonymous(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let signed_in = VIEWER.try_with(|v| v.is_some()).unwrap_or(false);
    if signed_in || !state.config.web.hide_addresses {
        return next.run(request).await;
    }
    let back = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let response = next.run(request).await;
    if response.extensions().get::<Hidden>().is_some() {
        return response;
    }
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if kind.starts_with("application/mbox") {
        return WebError::SignIn(back).into_response();
    }
    let textual = ["text/", "application/json", "application/atom+xml"]
        .iter()
        .any(|t| kind.starts_with(t));
    if !textual {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FILTERED_BYTES).await else {
        return WebError::Internal.into_response();
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let hidden = hide(text);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(hidden))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_shortened_and_identifiers_kept_where_the_page_writes_them() {
        let text = "Jane &lt;jane.doe@nhs.net&gt; wrote in <a href=\"/m/abc123@mail.example.org\">\
                    abc123@mail.example.org</a>; mail bo@x.org or \"amy+list@gp.nhs.uk\" \
                    {\"message_id\":\"j.smith@nhs.net\",\"from\":\"j.smith@nhs.net\"}";
        assert_eq!(
            hide(text),
            "Jane &lt;ja…@nhs.net&gt; wrote in <a href=\"/m/abc123@mail.example.org\">\
             ab…@mail.example.org</a>; mail b…@x.org or \"am…@gp.nhs.uk\" \
             {\"message_id\":\"j.smith@nhs.net\",\"from\":\"js…@nhs.net\"}"
        );
        assert_eq!(hide("no addresses here @ all"), "no addresses here @ all");
    }
}
