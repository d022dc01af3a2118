//! Addresses kept from readers who are not signed in (`[web] hide_addresses`, on by default):
//! a layer over every route shortens each email address in the text it answers (pages, feeds,
//! JSON) to its first letters and domain, as Google Groups does ("ja…@nhs.net"), and sends
//! raw mail downloads (mbox), which are full of addresses, to the sign-in page. One layer, so
//! that no page, feed or API answer can forget it. Message-IDs and calendar UIDs look like
//! addresses and are what permalinks and calendar entries are made of: a token the archive
//! knows as one of them is left alone.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use regex::Regex;

use super::access::VIEWER;
use super::{AppState, WebError};

/// An address as it appears in text, HTML or JSON: the usual characters only, so that a path
/// (`/m/ID`) or markup around it is not taken for part of it.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
        .expect("the address pattern compiles")
});

/// Pages larger than this are not rewritten (none of ours is; it bounds the buffering).
const MAX_FILTERED_BYTES: usize = 16 << 20;

/// "jane.doe@nhs.net" as a reader not signed in sees it: "ja…@nhs.net".
pub fn shortened(address: &str) -> String {
    let (local, domain) = address.split_once('@').unwrap_or((address, ""));
    let shown: String = local
        .chars()
        .take(if local.len() > 4 { 2 } else { 1 })
        .collect();
    format!("{shown}…@{domain}")
}

/// `text` with every address shortened, except the tokens in `keep` (Message-IDs).
pub fn hide(text: &str, keep: &HashSet<String>) -> String {
    ADDRESS
        .replace_all(text, |c: &regex::Captures<'_>| {
            let token = &c[0];
            if keep.contains(token) {
                token.to_owned()
            } else {
                shortened(token)
            }
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
    let tokens: HashSet<String> = ADDRESS
        .find_iter(text)
        .map(|m| m.as_str().to_owned())
        .collect();
    if tokens.is_empty() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let known = state
        .read(move |s| {
            let mut known = HashMap::new();
            for token in tokens {
                let is_id = s.is_identifier(&token)?;
                known.insert(token, is_id);
            }
            Ok(known)
        })
        .await;
    let Ok(known) = known else {
        return WebError::Internal.into_response();
    };
    let keep: HashSet<String> = known
        .into_iter()
        .filter_map(|(token, is_id)| is_id.then_some(token))
        .collect();
    let hidden = hide(text, &keep);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(hidden))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_shortened_and_message_ids_kept() {
        let keep: HashSet<String> = ["abc123@mail.example.org".to_owned()].into();
        let text = "Jane &lt;jane.doe@nhs.net&gt; wrote in <a href=\"/m/abc123@mail.example.org\">\
                    this</a>; mail bo@x.org or \"amy+list@gp.nhs.uk\"";
        assert_eq!(
            hide(text, &keep),
            "Jane &lt;ja…@nhs.net&gt; wrote in <a href=\"/m/abc123@mail.example.org\">this</a>; \
             mail b…@x.org or \"am…@gp.nhs.uk\""
        );
        assert_eq!(
            hide("no addresses here @ all", &keep),
            "no addresses here @ all"
        );
    }
}
