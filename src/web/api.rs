//! Everything that is not an HTML page: Atom feeds, a thread as mbox, the JSON API (same
//! access rules as the pages), attachment downloads, and /healthz for monitors.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Id, Viewer};
use super::view::{self, FeedEntry, PAGE_SIZE};
use super::{AppState, WebError, download};
use crate::mail::mbox::{export_envelope, write_mboxrd};
use crate::mail::render::{render_message, safe_delivery};
use crate::search::SearchOrder;
use crate::store::{MessageId, ThreadFilter, ThreadId, ThreadSummary};

pub async fn thread_mbox(
    State(state): State<AppState>,
    Id(id): Id<ThreadId>,
) -> Result<Response, WebError> {
    let bytes = state
        .read(move |s| {
            if !s.thread_exists(id)? {
                return Ok(None);
            }
            let mut out = Vec::new();
            s.for_each_raw(None, Some(id), |raw| {
                let envelope = export_envelope(raw.envelope.as_deref());
                Ok(write_mboxrd(&mut out, Some(&envelope), &raw.bytes)?)
            })?;
            Ok(Some(out))
        })
        .await?
        .ok_or(WebError::NotFound("thread"))?;
    let name = format!("thread-{}.mbox", id.0);
    Ok(download("application/mbox", &name, None, bytes))
}

pub(super) fn atom(title: &str, self_link: &str, entries: &[FeedEntry]) -> Response {
    let updated = entries.iter().filter_map(|e| e.updated).max();
    let feed = view::Feed {
        title,
        self_link,
        updated: view::iso(updated.or(Some(0))),
        entries,
    };
    (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        view::render(&feed).0,
    )
        .into_response()
}

pub(super) fn thread_entries(threads: Vec<ThreadSummary>) -> Vec<FeedEntry> {
    threads
        .into_iter()
        .map(|t| FeedEntry {
            id: format!("/t/{}", t.thread),
            title: t.subject.unwrap_or_else(|| "(no subject)".into()),
            link: format!("/t/{}", t.thread),
            updated: t.last_date,
            author: t.participants.first().cloned().unwrap_or_default(),
            summary: t.preview,
        })
        .collect()
}

pub async fn site_feed(State(state): State<AppState>) -> Result<Response, WebError> {
    let page = state
        .read(|s| s.latest_threads(ThreadFilter::All, 0, 30))
        .await?;
    Ok(state.feed(
        &state.config.web.site_name,
        "/feed.atom",
        thread_entries(page.items),
    ))
}

pub async fn list_feed(
    State(state): State<AppState>,
    Path(list): Path<String>,
) -> Result<Response, WebError> {
    let name = list.clone();
    let page = state
        .read(move |s| match s.find_list(&name) {
            Ok(id) => s.latest_threads(ThreadFilter::List(id), 0, 30).map(Some),
            Err(_) => Ok(None),
        })
        .await?
        .ok_or(WebError::NotFound("list"))?;
    let title = format!("{}: {list}", state.config.web.site_name);
    Ok(state.feed(
        &title,
        &format!("/l/{list}/feed.atom"),
        thread_entries(page.items),
    ))
}

pub async fn thread_feed(
    State(state): State<AppState>,
    Id(id): Id<ThreadId>,
) -> Result<Response, WebError> {
    let (info, posts) = state
        .read(move |s| {
            let Some(info) = s.thread_info(id)? else {
                return Ok(None);
            };
            Ok(Some((info, s.thread_posts(id)?)))
        })
        .await?
        .ok_or(WebError::NotFound("thread"))?;
    let options = state.config.render_options(&info.1);
    // A Message-ID that is also someone's address is not written for a reader kept from them.
    let known = if state.hides_addresses() {
        let ids: Vec<MessageId> = posts.iter().map(|p| p.headers.message_id.clone()).collect();
        state.read(move |s| s.ids_known_as_addresses(&ids)).await?
    } else {
        Default::default()
    };
    // Linked by its place in the thread instead (unique, as an Atom id must be).
    let link = |post: &crate::store::ThreadPost| {
        if known.contains(&post.headers.message_id.to_lowercase()) {
            format!("/t/{}#m-{}", id.0, post.key)
        } else {
            view::permalink(&post.headers.message_id)
        }
    };
    let entries: Vec<FeedEntry> = posts
        .iter()
        .map(|p| {
            let body = crate::mail::parse::mime(&p.raw_bytes()?)
                .map(|m| render_message(&m, &options, &|_| None).body)
                .unwrap_or_default();
            Ok::<_, crate::store::StoreError>(FeedEntry {
                id: link(p),
                title: p.subject.clone().unwrap_or_default(),
                link: link(p),
                updated: p.headers.date,
                author: p
                    .from_name
                    .clone()
                    .or_else(|| p.from_addr.clone())
                    .unwrap_or_default(),
                summary: body,
            })
        })
        .collect::<Result<_, _>>()?;
    let title = info.0.unwrap_or_else(|| "(no subject)".into());
    Ok(state.feed(&title, &format!("/t/{}/feed.atom", id.0), entries))
}

pub async fn attachment(
    State(state): State<AppState>,
    Path((sha, _name)): Path<(String, String)>,
) -> Result<Response, WebError> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WebError::NotFound("attachment"));
    }
    let lookup = sha.clone();
    let crate::store::StoredAttachment {
        content_type,
        too_large,
        raw,
        part,
    } = state
        .read(move |s| s.attachment(&lookup))
        .await?
        .ok_or(WebError::NotFound("attachment"))?;
    if too_large {
        return Err(WebError::BadRequest(
            "This attachment is larger than the archive serves; it is kept in the original mail."
                .into(),
        ));
    }
    let message = crate::mail::parse::mime(&raw).ok_or(WebError::Internal)?;
    let bytes = message
        .parts
        .get(part as usize)
        .map(|p| p.contents().to_vec())
        .ok_or(WebError::NotFound("attachment"))?;
    let (served_type, download) = safe_delivery(&content_type);
    Ok((
        [
            (header::CONTENT_TYPE, served_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                if download {
                    "attachment".to_owned()
                } else {
                    "inline".to_owned()
                },
            ),
            // Whatever the bytes are, they run nothing in our origin.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct ApiPage {
    page: Option<String>,
}

pub async fn threads(
    State(state): State<AppState>,
    Query(q): Query<ApiPage>,
) -> Result<Response, WebError> {
    let page = super::pages::page_number(q.page.as_deref());
    let found = state
        .read(move |s| s.latest_threads(ThreadFilter::All, (page - 1) * PAGE_SIZE, PAGE_SIZE))
        .await?;
    state
        .json(serde_json::json!({"page": page, "total": found.total, "threads": found.items}))
        .await
}

pub async fn thread(
    State(state): State<AppState>,
    Id(id): Id<ThreadId>,
) -> Result<Response, WebError> {
    let (info, arranged, posts) = state
        .read(move |s| {
            let Some(info) = s.thread_info(id)? else {
                return Ok(None);
            };
            Ok(Some((
                info.clone(),
                s.arranged_thread(id, info.0)?,
                s.thread_posts(id)?,
            )))
        })
        .await?
        .ok_or(WebError::NotFound("thread"))?;
    let options = state.config.render_options(&info.1);
    let bodies: HashMap<&str, (String, String)> = posts
        .iter()
        .map(|p| {
            let raw = p.raw_bytes()?;
            let r = crate::mail::parse::mime(&raw).map(|m| render_message(&m, &options, &|_| None));
            let (body, elided) = r.map(|r| (r.body, r.elided)).unwrap_or_default();
            Ok::<_, crate::store::StoreError>((p.headers.message_id.as_str(), (body, elided)))
        })
        .collect::<Result<_, _>>()?;
    let messages: Vec<serde_json::Value> = arranged
        .messages
        .iter()
        .map(|m| {
            let (body, elided) = bodies
                .get(m.message_id.as_str())
                .cloned()
                .unwrap_or_default();
            serde_json::json!({
                "message_id": m.message_id, "parent": m.parent, "depth": m.depth, "date": m.date,
                "from": m.from, "body": body, "elided": elided,
            })
        })
        .collect();
    state
        .json(serde_json::json!({
            "thread": id.0, "subject": arranged.subject, "list": info.1, "messages": messages,
        }))
        .await
}

pub async fn message(
    State(state): State<AppState>,
    Path(message_id): Path<String>,
) -> Result<Response, WebError> {
    let id = super::pages::bare_message_id(&message_id);
    let (raw, list) = state
        .read(move |s| s.message_raw(&id))
        .await?
        .ok_or(WebError::NotFound("message"))?;
    let options = state.config.render_options(&list);
    let message = crate::mail::parse::mime(&raw).ok_or(WebError::NotFound("message"))?;
    let rendered = render_message(&message, &options, &|a| {
        Some(super::pages::attachment_href(a))
    });
    state
        .json(
            serde_json::to_value(rendered)
                .map_err(|e| WebError::internal(&e, "a message as JSON"))?,
        )
        .await
}

pub async fn search(
    State(state): State<AppState>,
    Query(q): Query<super::pages::SearchQuery>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    let signed_in = viewer.is_some();
    // Cut as the search page cuts it.
    let query = crate::search::cut(&q.q.unwrap_or_default());
    let page = super::pages::page_number(q.page.as_deref());
    let order = if q.sort.as_deref() == Some("date") {
        SearchOrder::Date
    } else {
        SearchOrder::Relevance
    };
    let who = state.author_match(signed_in);
    let found = state
        .read(move |s| {
            s.search_page(
                &query,
                &crate::store::SearchPage::at((page - 1) * PAGE_SIZE, PAGE_SIZE, order)
                    .matching(who),
            )
        })
        .await?;
    Ok(match found {
        Ok(results) => {
            state
                .json(serde_json::json!({"page": page, "total": results.total, "exact": results.exact, "query": results.query, "results": results.results}))
                .await?
        }
        Err(problem) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": problem.to_string()})),
        )
            .into_response(),
    })
}

/// For monitors: 200 with the sources' states when every source is working, 503 when one is
/// failing; never a body or an address.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let result = state
        .read(|s| s.source_statuses(chrono::Utc::now().timestamp()))
        .await;
    match result {
        Ok(statuses) => {
            let failing = statuses.iter().any(|s| s.state == "failing");
            let body = serde_json::json!({
                "status": if failing { "degraded" } else { "ok" },
                "sources": statuses.iter().map(|s| serde_json::json!({
                    "source": s.source, "state": s.state, "last_sync": s.last_sync,
                    "permanent_error": s.permanent,
                })).collect::<Vec<_>>(),
            });
            let code = if failing {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            (code, Json(body)).into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "down", "error": "the database cannot be read"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod feed_tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn feeds_are_escaped_and_well_formed() {
        let entries = [FeedEntry {
            id: "/t/1".into(),
            title: "Q \"quoted\" 'x'\u{1}".into(),
            link: "/t/1?a=1&b=2".into(),
            updated: Some(86_400),
            author: "Jane <j@x>".into(),
            summary: "a\nb\tc".into(),
        }];
        let feed = atom("A & B <x>", "/feed.atom", &entries);
        assert_eq!(
            feed.headers()[header::CONTENT_TYPE],
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            body(feed).await,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
             <title>A &amp; B &lt;x&gt;</title>\n\
             <id>/feed.atom</id>\n\
             <link rel=\"self\" href=\"/feed.atom\"/>\n\
             <updated>1970-01-02T00:00:00Z</updated>\n\
             <entry>\n\
             <id>/t/1</id>\n\
             <title>Q &quot;quoted&quot; &#39;x&#39;</title>\n\
             <link href=\"/t/1?a=1&amp;b=2\"/>\n\
             <updated>1970-01-02T00:00:00Z</updated>\n\
             <author><name>Jane &lt;j@x&gt;</name></author>\n\
             <summary>a\nb\tc</summary>\n\
             </entry>\n\
             </feed>\n"
        );
        assert_eq!(
            body(atom("Empty", "/e.atom", &[])).await,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
             <title>Empty</title>\n\
             <id>/e.atom</id>\n\
             <link rel=\"self\" href=\"/e.atom\"/>\n\
             <updated>1970-01-01T00:00:00Z</updated>\n\
             </feed>\n"
        );
    }
}
