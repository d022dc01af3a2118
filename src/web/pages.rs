//! The HTML pages: latest threads, a thread, permalinks, a list's and an author's threads, and
//! search with highlighted snippets.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::addresses;
use super::extract::{Id, Viewer};
use super::view::{self, PAGE_SIZE, Pager, PostView, ResultView, ThreadRow};
use super::{AppState, BodyKey, Bounded, ContentKey, PageKey, SearchKey, ThreadKey, WebError};
use crate::mail::render::{RenderOptions, Rendered, render_message};
use crate::mail::sanitize::escape_markup;
use crate::search::{QueryError, SearchOrder};
use crate::store::{
    Event, MessageId, PackedRaw, PostState, Session, Store, StoreError, ThreadFilter, ThreadId,
    ThreadPost, ThreadSummary, UserId,
};
use crate::thread::{Placement, ThreadMessage, arrange_fixed};

#[derive(Debug, Deserialize, Default)]
pub struct PageQuery {
    page: Option<String>,
    view: Option<String>,
}

/// A page number from the query; anything odd is page 1 (a hostile query string is no error).
pub(super) fn page_number(raw: Option<&str>) -> usize {
    raw.and_then(|p| p.parse::<usize>().ok())
        .filter(|&p| (1..=100_000).contains(&p))
        .unwrap_or(1)
}

fn rows(state: &AppState, threads: Vec<ThreadSummary>, hide: bool) -> Vec<ThreadRow> {
    threads
        .into_iter()
        .map(|t| {
            let names = addresses::shown(&t.participants.join(", "), hide);
            let others = t
                .participant_count
                .saturating_sub(t.participants.len() as u64);
            ThreadRow {
                thread: t.thread,
                subject: addresses::shown(&state.thread_title(t.subject.as_deref(), &t.list), hide),
                list: t.list,
                replies: t.messages.saturating_sub(1),
                participants: if others > 0 {
                    format!("{names} and {others} more")
                } else {
                    names
                },
                last: view::Stamp::at(t.last_date),
                preview: addresses::shown(&t.preview, hide),
            }
        })
        .collect()
}

/// What a thread list shows: which threads, under which heading, at which address (its pages'
/// links), with which feed and "new thread" link.
pub(super) struct Listing {
    pub filter: OwnedFilter,
    pub heading: String,
    pub base: String,
    pub feed: Option<String>,
    pub new_thread: Option<String>,
}

impl Listing {
    pub fn new(filter: OwnedFilter, heading: String, base: String) -> Listing {
        Listing {
            filter,
            heading,
            base,
            feed: None,
            new_thread: None,
        }
    }
}

/// Who reads a thread list, and which of its pages (`?page=`).
pub(super) struct ListReader {
    viewer: Option<Session>,
    page: Option<String>,
}

impl FromRequestParts<AppState> for ListReader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Query(q) = Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Viewer(viewer) = Viewer::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(ListReader {
            viewer,
            page: q.page,
        })
    }
}

pub(super) async fn thread_list(
    state: &AppState,
    reader: ListReader,
    listing: Listing,
) -> Result<Response, WebError> {
    let ListReader { viewer, page } = reader;
    let viewer = viewer.as_ref();
    let page = page.as_deref();
    let Listing {
        filter,
        heading,
        base,
        feed,
        new_thread,
    } = listing;
    let page = page_number(page);
    let offset = (page - 1) * PAGE_SIZE;
    let found = state
        .read(move |s| {
            let filter = match &filter {
                OwnedFilter::All => ThreadFilter::All,
                OwnedFilter::List(name) => match s.find_list(name) {
                    Ok(id) => ThreadFilter::List(id),
                    Err(_) => return Ok(None),
                },
                OwnedFilter::Author(a) => ThreadFilter::Author(a),
                OwnedFilter::Interest(i) => ThreadFilter::Interest(*i),
            };
            s.latest_threads(filter, offset, PAGE_SIZE).map(Some)
        })
        .await?
        .ok_or(WebError::NotFound("list"))?;
    let pager = Pager::new(page, found.total, |p| format!("{base}?page={p}"));
    let hide = state.hides_addresses();
    let page = view::ThreadsPage {
        head: state.head(viewer),
        new_thread,
        heading: addresses::shown(&heading, hide),
        feed,
        threads: rows(state, found.items, hide),
        total: found.total,
        pager,
    };
    let mut response = view::render(&page).into_response();
    if hide {
        response.extensions_mut().insert(addresses::Hidden);
    }
    Ok(response)
}

pub(super) enum OwnedFilter {
    All,
    List(String),
    Author(String),
    Interest(crate::store::InterestId),
}

pub async fn latest(
    State(state): State<AppState>,
    reader: ListReader,
) -> Result<Response, WebError> {
    let listing = Listing::new(OwnedFilter::All, "Latest threads".to_owned(), "/".into());
    thread_list(&state, reader, listing).await
}

pub async fn list(
    State(state): State<AppState>,
    Path(list): Path<String>,
    reader: ListReader,
) -> Result<Response, WebError> {
    state.readable_list(&list).await?;
    let config = state.list(&list);
    let heading = match config.and_then(|l| l.description.as_deref()) {
        Some(d) => format!("{list}: {d}"),
        None => format!("The {list} list"),
    };
    let base = format!("/l/{list}");
    let feed = Some(format!("{base}/feed.atom"));
    let new_thread = config
        .is_some_and(|l| l.address.is_some())
        .then(|| format!("/l/{list}/new"));
    let listing = Listing {
        feed,
        new_thread,
        ..Listing::new(OwnedFilter::List(list), heading, base)
    };
    thread_list(&state, reader, listing).await
}

pub async fn author(
    State(state): State<AppState>,
    Path(address): Path<String>,
    reader: ListReader,
) -> Result<Response, WebError> {
    if reader.viewer.is_none() && state.config.web.hide_addresses {
        // The page is named by the address: it is for members.
        return Err(WebError::SignIn(view::author_link(&address)));
    }
    let lookup = address.clone();
    let name = state
        .read(move |s| s.author_name(&lookup))
        .await?
        .ok_or(WebError::NotFound("author"))?;
    let base = view::author_link(&address);
    let heading = format!(
        "Threads with posts by {}",
        name.split(" <").next().unwrap_or(&name)
    );
    let listing = Listing::new(OwnedFilter::Author(address), heading, base);
    thread_list(&state, reader, listing).await
}

pub async fn permalink(
    State(state): State<AppState>,
    Path(message_id): Path<String>,
) -> Result<Response, WebError> {
    let id = bare_message_id(&message_id);
    let (thread, key) = state
        .read(move |s| s.locate(&id))
        .await?
        .ok_or(WebError::NotFound("message"))?;
    Ok(Redirect::to(&format!("/t/{}#m-{key}", thread.0)).into_response())
}

/// A Message-ID from an address, with or without its angle brackets.
pub(super) fn bare_message_id(raw: &str) -> String {
    raw.trim_start_matches('<').trim_end_matches('>').to_owned()
}

fn render_options(state: &AppState, list: &str) -> RenderOptions {
    state.config.render_options(list)
}

/// A search hit's snippet: its rendered text from the cache, or its mail (and list) to render.
enum Snippet {
    Drawn(Arc<str>),
    Mail(BodyKey, Option<(Vec<u8>, String)>),
}

/// A stored mail as the page shows it, its parts linked to our attachment addresses.
fn rendered(raw: &[u8], options: &RenderOptions) -> Option<Rendered> {
    let message = crate::mail::parse::mime(raw)?;
    Some(render_message(&message, options, &|a| {
        Some(attachment_href(a))
    }))
}

/// What every reader's page of a thread is drawn from, whoever they are: its subject and list,
/// its posts (without their mail) in the order shown, the members among the authors, its
/// interests (and all), the event it announces, the moderators' fixes. Kept by the thread and
/// the archive's version (`AppState::threads`), which every change it shows raises.
pub(super) struct SharedThread {
    info: (Option<String>, String),
    posts: Vec<ThreadPost>,
    /// The posts as the page lays them out, by date and nested (moderators' splits and moves
    /// place some where their headers do not).
    dated: Vec<Placement>,
    nested: Vec<Placement>,
    members: HashMap<String, UserId>,
    /// The thread's interests, and the others (which moderators may add), as (slug, name):
    /// not the rules behind them, which may run to thousands of keywords.
    interests: Vec<(String, String)>,
    taggable: Vec<(String, String)>,
    event: Option<Event>,
    /// The archive's erasures (`Store::archive_version`): a rendered message is cached by it.
    erasures: i64,
    /// For a reader who may not see addresses: the posts' Message-IDs that are also someone's
    /// address (lowercased).
    known_as_addresses: std::collections::HashSet<String>,
}

impl SharedThread {
    /// About the bytes it holds, for the cache's bound.
    pub(super) fn weight(&self) -> usize {
        // Each string with what its allocation and the value holding it cost besides.
        let text = |s: &str| s.len() + 32;
        let maybe = |s: &Option<String>| s.as_deref().map_or(0, text);
        let posts: usize = self
            .posts
            .iter()
            .map(|p| {
                let h = &p.headers;
                256 + text(h.message_id.as_str())
                    + h.references.iter().map(|r| text(r)).sum::<usize>()
                    + maybe(&h.in_reply_to)
                    + maybe(&h.fallback_parent)
                    + maybe(&p.from_name)
                    + maybe(&p.from_addr)
                    + maybe(&p.subject)
            })
            .sum();
        let placements = (self.dated.len() + self.nested.len()) * size_of::<Placement>();
        let members: usize = self.members.keys().map(|a| text(a) + 16).sum();
        let interests: usize = self
            .interests
            .iter()
            .chain(&self.taggable)
            .map(|(slug, name)| text(slug) + text(name))
            .sum();
        let known: usize = self.known_as_addresses.iter().map(|a| text(a)).sum();
        let event = self.event.as_ref().map_or(0, |_| 4096);
        posts + placements + members + interests + known + event + text(&self.info.1) + 1024
    }
}

/// What a thread page shows for one reader: what every reader sees, the content of posts drawn
/// before (the raw mail of the others), and the reader's own likes, watch and posts' states.
struct ThreadData {
    shared: Arc<SharedThread>,
    /// Posts' content already drawn (`AppState::posts`), by post key.
    drawn: HashMap<i64, Arc<str>>,
    /// The raw mail of the posts not drawn before, by post key.
    raws: HashMap<i64, PackedRaw>,
    states: HashMap<MessageId, PostState>,
    likes: HashMap<String, (u64, bool)>,
    watching: Option<String>,
}

/// Reads what every reader's page of a thread is drawn from; None: no such thread.
fn shared_thread(
    s: &Store,
    id: ThreadId,
    hide_addresses: bool,
) -> Result<Option<SharedThread>, StoreError> {
    let Some(info) = s.thread_info(id)? else {
        return Ok(None);
    };
    let erasures = s.archive_version()?.1;
    let posts = s.thread_post_headers(id)?;
    let addresses: Vec<&str> = posts
        .iter()
        .filter_map(|p| p.from_addr.as_deref())
        .collect();
    let members = s.members_by_address(&addresses)?;
    let tagged = s.thread_interest_ids(id)?;
    let (interests, taggable) = s
        .interests()?
        .into_iter()
        .partition::<Vec<_>, _>(|i| tagged.contains(&i.id));
    let named = |list: Vec<crate::store::Interest>| -> Vec<(String, String)> {
        list.into_iter()
            .map(|i| (i.rules.slug, i.rules.name))
            .collect()
    };
    let event = match s.event_of_thread(id)? {
        Some(e) => s.event(e)?,
        None => None,
    };
    let known_as_addresses = if hide_addresses {
        let ids: Vec<MessageId> = posts.iter().map(|p| p.headers.message_id.clone()).collect();
        s.ids_known_as_addresses(&ids)?
    } else {
        Default::default()
    };
    let fixes = s.thread_fixes_in(id)?;
    let fixes: Vec<_> = fixes.iter().map(crate::store::ThreadFix::as_fix).collect();
    let inputs: Vec<ThreadMessage<'_>> = posts.iter().map(|p| p.headers.thread_message()).collect();
    let nested = arrange_fixed(&inputs, &fixes);
    let mut dated = nested.clone();
    // Date order reads best on a phone; the tree is one click away.
    dated.sort_by_key(|p| (inputs[p.index].date, posts[p.index].key));
    drop(inputs);
    Ok(Some(SharedThread {
        info,
        posts,
        dated,
        nested,
        members,
        interests: named(interests),
        taggable: named(taggable),
        event,
        erasures,
        known_as_addresses,
    }))
}

/// Where a post's drawn content is kept (`AppState::posts`).
fn content_key(erasures: i64, message_id: &MessageId, hidden: bool) -> ContentKey {
    ContentKey {
        body: BodyKey {
            erasures,
            message_id: message_id.clone(),
        },
        hidden,
    }
}

/// Who a thread page is drawn for: a reader not signed in (`member` None) or a member, who
/// may be a moderator.
#[derive(Clone, Copy)]
struct Reader {
    member: Option<UserId>,
    moderator: bool,
    hide_addresses: bool,
}

/// What a thread's page is drawn from, as the reader may see it; None: no such thread. What
/// every reader sees is taken from `threads` when kept there for this `archive` version, and
/// the content of posts drawn before from `contents` (their mail is then not read).
fn thread_data(
    s: &Store,
    id: ThreadId,
    reader: Reader,
    archive: (i64, i64),
    caches: &ThreadCaches,
) -> Result<Option<ThreadData>, StoreError> {
    let key = ThreadKey {
        thread: id.0,
        archive,
        hidden: reader.hide_addresses,
    };
    let shared = match caches.threads.get(&key) {
        Some(shared) => shared,
        None => {
            let Some(shared) = shared_thread(s, id, reader.hide_addresses)? else {
                return Ok(None);
            };
            let shared = Arc::new(shared);
            caches.threads.put(key, Arc::clone(&shared));
            shared
        }
    };
    let mut drawn = HashMap::new();
    let mut raws = HashMap::new();
    for post in &shared.posts {
        let key = content_key(
            shared.erasures,
            &post.headers.message_id,
            reader.hide_addresses,
        );
        match caches.contents.get(&key) {
            Some(content) => {
                drawn.insert(post.key, content);
            }
            None => {
                raws.insert(post.key, s.packed_raw(post.key)?);
            }
        }
    }
    let (watching, states) = match reader.member {
        Some(me) => (s.thread_pref(me, id)?, s.own_post_states(me, id)?),
        None => (None, HashMap::new()),
    };
    Ok(Some(ThreadData {
        likes: s.thread_likes(id, reader.member)?,
        shared,
        drawn,
        raws,
        states,
        watching,
    }))
}

/// The caches a thread page is drawn from, for the read that draws it.
struct ThreadCaches {
    threads: Arc<Bounded<ThreadKey, Arc<SharedThread>>>,
    contents: Arc<Bounded<ContentKey, Arc<str>>>,
}

pub async fn thread(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
    Id(ThreadId(id)): Id<ThreadId>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    let nested = q.view.as_deref() == Some("nested");
    let reader = Reader {
        member: viewer.as_ref().map(|v| v.user.id),
        moderator: viewer
            .as_ref()
            .is_some_and(|v| v.user.role >= crate::store::Role::Moderator),
        hide_addresses: state.config.web.hide_addresses && viewer.is_none(),
    };
    // A member's page is drawn for them, never cached: what it shows is read in the same read
    // that finds the thread.
    let for_member = reader.member.is_some();
    let caches = ThreadCaches {
        threads: Arc::clone(&state.threads),
        contents: Arc::clone(&state.posts),
    };
    let found = state
        .read(move |s| {
            // The thread's row says whether it has messages (no count of them).
            if s.thread_info(ThreadId(id))?.is_none() {
                // A thread a moderator merged (or moved) away: its posts are elsewhere now.
                return Ok(Err(s.thread_moved(ThreadId(id))?));
            }
            let archive = s.archive_version()?;
            let data = match for_member {
                true => thread_data(s, ThreadId(id), reader, archive, &caches)?,
                false => None,
            };
            Ok(Ok((archive, data, caches)))
        })
        .await?;
    let (archive, data, caches) = match found {
        Ok(found) => found,
        Err(Some(moved)) => {
            return Ok(Redirect::to(&format!("/t/{}", moved.0)).into_response());
        }
        Err(None) => return Err(WebError::NotFound("thread")),
    };
    let key = PageKey {
        thread: id,
        nested,
        archive,
    };
    // Pages for readers who are not signed in are the same for all of them, so they are
    // cached; a member's page shows their likes and their own posts' delivery state.
    if viewer.is_none()
        && let Some(page) = state.pages.get(&key)
    {
        return Ok(drawn(page, state.config.web.hide_addresses));
    }
    let hide_addresses = reader.hide_addresses;
    let data = match data {
        Some(data) => data,
        None => state
            .read(move |s| thread_data(s, ThreadId(id), reader, archive, &caches))
            .await?
            .ok_or(WebError::NotFound("thread"))?,
    };
    let shared = Arc::clone(&data.shared);
    let (subject, list) = shared.info.clone();
    let posts = &shared.posts;
    let options = render_options(&state, &list);
    // What the mail and its authors say, as this reader may see it.
    let shown = |text: &str| addresses::shown(text, hide_addresses);
    // A Message-ID that is also someone's address (anyone can give a mail such an id) is
    // not written into a link: the post is linked by its place in the thread instead.
    let known = &shared.known_as_addresses;
    let placements = if nested {
        &shared.nested
    } else {
        &shared.dated
    };
    let mut views = Vec::with_capacity(posts.len());
    for placement in placements {
        let post = &posts[placement.index];
        let author = match (&post.from_name, &post.from_addr) {
            (Some(n), _) => shown(n),
            (None, Some(a)) => shown(a),
            (None, None) => "(unknown sender)".to_owned(),
        };
        let content = match data.drawn.get(&post.key) {
            Some(content) => Arc::clone(content),
            None => {
                let raw = data
                    .raws
                    .get(&post.key)
                    .ok_or(StoreError::NotRead(post.key))?;
                let content: Arc<str> = post_content(&state, post, raw, &options, &shown)?.into();
                let key = content_key(shared.erasures, &post.headers.message_id, hide_addresses);
                state.posts.put(key, Arc::clone(&content));
                content
            }
        };
        let parent = placement.parent.map(|i| {
            let p = &posts[i];
            (
                p.key,
                shown(
                    p.from_name
                        .as_deref()
                        .or(p.from_addr.as_deref())
                        .unwrap_or_default(),
                ),
            )
        });
        let (like_count, liked) = data
            .likes
            .get(post.headers.message_id.as_str())
            .copied()
            .unwrap_or((0, false));
        views.push(PostView {
            message_id: post.headers.message_id.clone(),
            likes: like_count,
            liked,
            reply: Some(format!("/t/{id}/reply?to={}", post.key)),
            state: data
                .states
                .get(post.headers.message_id.as_str())
                .map(state_label),
            key: post.key,
            author,
            // A member's posts lead to their profile; other authors to their threads.
            author_link: match post
                .from_addr
                .as_deref()
                .and_then(|a| shared.members.get(&a.to_lowercase()))
            {
                Some(member) => Some(format!("/u/{}", member.0)),
                // An author page is named by the address: not for readers who may not see it.
                None if hide_addresses => None,
                None => post.from_addr.as_deref().map(view::author_link),
            },
            permalink: if known.contains(&post.headers.message_id.to_lowercase()) {
                format!("/t/{id}#m-{}", post.key)
            } else {
                view::permalink(&post.headers.message_id)
            },
            date: view::Stamp::at(post.headers.date),
            parent,
            indent: if nested { placement.depth.min(8) } else { 0 },
            content,
        });
    }
    let signed_in = viewer.is_some();
    let moderator = reader.moderator;
    let page = view::ThreadPage {
        head: state.head(viewer.as_ref()),
        interests: shared.interests.clone(),
        // Moderators add any interest the thread lacks, or remove one it has.
        taggable: if moderator {
            shared.taggable.clone()
        } else {
            Vec::new()
        },
        moderator,
        watching: data.watching.unwrap_or_default(),
        event: shared.event.as_ref().map(|e| {
            (
                e.id.0,
                shown(&e.details.title),
                crate::forum::events::when(&e.details),
            )
        }),
        thread: id,
        subject: shown(&state.thread_title(subject.as_deref(), &list)),
        list,
        nested,
        posts: views,
    };
    // The posts' content, and what is laid around each for this reader (their tools).
    let around = match (signed_in, moderator) {
        (false, _) => 1024,
        (true, false) => 2048,
        (true, true) => 5120,
    };
    let size = page
        .posts
        .iter()
        .map(|p| p.content.len() + around)
        .sum::<usize>()
        + 16384;
    let html = body_bytes(view::render_sized(&page, size).0, !signed_in);
    if !signed_in {
        state.pages.put(key, html.clone());
    }
    Ok(drawn(html, hide_addresses))
}

/// A post's content as a thread page shows it (`view::PostContent`), drawn: what cannot be
/// parsed is shown as it came, masked like the rest.
fn post_content(
    state: &AppState,
    post: &crate::store::ThreadPost,
    raw: &PackedRaw,
    options: &RenderOptions,
    shown: &dyn Fn(&str) -> String,
) -> Result<String, StoreError> {
    let raw = raw.bytes()?;
    let r = rendered(&raw, options).unwrap_or_else(|| Rendered {
        subject: post.subject.clone(),
        from: String::new(),
        date: None,
        message_id: Some(post.headers.message_id.to_string()),
        body: String::from_utf8_lossy(&raw).into_owned(),
        elided: String::new(),
        html: None,
        attachments: Vec::new(),
        forwarded: Vec::new(),
        tags: Vec::new(),
    });
    let content = view::PostContent {
        forwarded: r
            .forwarded
            .iter()
            .map(|f| view::ForwardedView {
                subject: f
                    .subject
                    .as_deref()
                    .map_or_else(|| "(no subject)".to_owned(), shown),
                from: shown(&f.from),
                date: f
                    .date
                    .as_deref()
                    .map(|d| d.replace('T', " ").trim_end_matches('Z').to_owned())
                    .unwrap_or_default(),
                body: shown(&f.body),
            })
            .collect(),
        body: shown(&r.body),
        elided: shown(&r.elided),
        html: r.html.as_deref().map(shown),
        attachments: r
            .attachments
            .iter()
            .filter(|a| !a.inline)
            .map(|a| view::AttachmentLink {
                name: a
                    .filename
                    .as_deref()
                    .map_or_else(|| "attachment".to_owned(), shown),
                href: attachment_href(a),
                kind: a.content_type.clone(),
                size: view::size(a.size),
                servable: (a.size as u64) <= u64::from(state.config.attachments.max_size_mb) << 20,
            })
            .collect(),
    };
    Ok(view::render(&content).0)
}

/// A drawn page, marked when its addresses were shortened as it was drawn (the layer in
/// `addresses` then leaves it alone).
fn drawn(html: axum::body::Bytes, hidden: bool) -> Response {
    let mut response = axum::response::Html(html).into_response();
    if hidden {
        response.extensions_mut().insert(addresses::Hidden);
    }
    response
}

/// A post's delivery state as its author sees it: a class and words.
fn state_label(state: &crate::store::PostState) -> (String, String) {
    use crate::store::PostState;
    match state {
        PostState::Queued { error: None } => ("queued".into(), "Queued to be sent".into()),
        PostState::Queued { error: Some(e) } => (
            "queued".into(),
            format!("Queued; the mail server could not be reached yet ({e}); trying again"),
        ),
        PostState::Sent => ("sent".into(), "Sent to the list".into()),
        PostState::Delivered => ("delivered".into(), "Delivered".into()),
        PostState::Failed { error } => ("failed".into(), format!("Not sent: {error}")),
    }
}

pub(super) fn attachment_href(a: &crate::mail::render::Attachment) -> String {
    let name = a.filename.as_deref().unwrap_or("attachment");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "/att/{}/{}",
        a.sha256,
        if safe.is_empty() {
            "attachment".into()
        } else {
            safe
        }
    )
}

/// The search form's (and the search API's) query string.
#[derive(Debug, Deserialize, Default)]
pub struct SearchQuery {
    pub(super) q: Option<String>,
    pub(super) page: Option<String>,
    pub(super) sort: Option<String>,
}

pub async fn search(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    let query = crate::search::cut(&q.q.unwrap_or_default());
    let page = page_number(q.page.as_deref());
    let by_date = q.sort.as_deref() == Some("date");
    let order = if by_date {
        SearchOrder::Date
    } else {
        SearchOrder::Relevance
    };
    let encoded = percent_encoding::utf8_percent_encode(&query, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let link = move |p: usize, date: bool| {
        format!(
            "/search?q={encoded}{}{}",
            if date { "&sort=date" } else { "" },
            if p > 1 {
                format!("&page={p}")
            } else {
                String::new()
            }
        )
    };
    let version = state.read(|s| s.archive_version()).await?;
    let key = SearchKey {
        query: query.clone(),
        page,
        by_date,
        archive: version,
    };
    let signed_in = viewer.is_some();
    let hide = !signed_in && state.config.web.hide_addresses;
    if !signed_in && let Some(cached) = state.searches.get(&key) {
        return Ok(drawn(cached, hide));
    }
    let text = query.clone();
    let who = state.author_match(signed_in);
    let bodies = Arc::clone(&state.bodies);
    let config = Arc::clone(&state.config);
    let found = state
        .read(move |s| {
            let results = match s.search_page(
                &text,
                &crate::store::SearchPage::at((page - 1) * PAGE_SIZE, PAGE_SIZE, order)
                    .matching(who),
            )? {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            // Message-IDs that are also someone's address are not written for this reader.
            let known = if hide {
                let ids: Vec<MessageId> = results
                    .results
                    .iter()
                    .map(|h| h.message_id.clone())
                    .collect();
                s.ids_known_as_addresses(&ids)?
            } else {
                Default::default()
            };
            // Snippets come from each hit's rendered text (the index keeps no text): cached,
            // or its mail, drawn below on the request's own worker rather than here, so that
            // no more renders run at once than there are workers (each rendering thread keeps
            // the trimmer's pattern caches).
            let mut snippets = Vec::with_capacity(results.results.len());
            for hit in &results.results {
                let key = BodyKey {
                    erasures: version.1,
                    message_id: hit.message_id.clone(),
                };
                snippets.push(match bodies.get(&key) {
                    Some(body) => Snippet::Drawn(body),
                    None => Snippet::Mail(key, s.message_raw(&hit.message_id)?),
                });
            }
            Ok(Ok((results, snippets, known)))
        })
        .await?;
    let found = found.map(|(results, snippets, known)| {
        let bodies: Vec<Arc<str>> = snippets
            .into_iter()
            .map(|snippet| match snippet {
                Snippet::Drawn(body) => body,
                Snippet::Mail(key, mail) => {
                    let body: Arc<str> = match mail {
                        Some((raw, list)) => rendered(&raw, &config.render_options(&list))
                            .map(|r| r.body)
                            .unwrap_or_default()
                            .into(),
                        None => "".into(),
                    };
                    state.bodies.put(key, Arc::clone(&body));
                    body
                }
            })
            .collect();
        (results, bodies, known)
    });
    let head = view::Head {
        query: query.clone(),
        ..state.head(viewer.as_ref())
    };
    let page_view = match found {
        Ok((results, bodies, known)) => {
            let terms = results.terms.clone();
            let pager = Pager::new(page, results.total, |p| link(p, by_date));
            view::SearchPage {
                head,
                problem: None,
                total: results.total,
                exact: results.exact,
                by_date,
                date_link: link(1, true),
                relevance_link: link(1, false),
                results: results
                    .results
                    .iter()
                    .zip(bodies)
                    .map(|(hit, body)| ResultView {
                        permalink: if known.contains(&hit.message_id.to_lowercase()) {
                            format!("/t/{}", hit.thread)
                        } else {
                            view::permalink(&hit.message_id)
                        },
                        subject: hit.subject.as_deref().map_or_else(
                            || "(no subject)".to_owned(),
                            |s| addresses::shown(s, hide),
                        ),
                        from: addresses::shown(
                            hit.from.split(" <").next().unwrap_or_default(),
                            hide,
                        ),
                        date: view::Stamp {
                            iso: hit.date.clone().unwrap_or_default(),
                            human: hit
                                .date
                                .as_deref()
                                .map(|d| d.get(..10).unwrap_or(d).to_owned())
                                .unwrap_or_default(),
                        },
                        // Shortened before it is cut, so that no cut leaves part of one.
                        snippet: snippet(&addresses::shown(&body, hide), &terms),
                    })
                    .collect(),
                pager,
            }
        }
        Err(problem) => view::SearchPage {
            head,
            problem: Some(match problem {
                QueryError::Empty if query.trim().is_empty() => {
                    "Type a few words to search the archive.".to_owned()
                }
                other => format!("{}.", capitalise(&other.to_string())),
            }),
            total: 0,
            exact: true,
            by_date,
            date_link: String::new(),
            relevance_link: String::new(),
            results: Vec::new(),
            pager: Pager::new(1, 0, |_| String::new()),
        },
    };
    // A search over its time budget depends on the moment's load: never kept for others.
    let kept = !signed_in && page_view.problem.is_none();
    let html = body_bytes(view::render(&page_view).0, kept);
    if kept {
        state.searches.put(key, html.clone());
    }
    Ok(drawn(html, hide))
}

/// A drawn page as a response body. One to be `cached` gives back the room it was drawn in
/// first (up to half of it): a cache weighs what it holds by length, and should hold no more.
fn body_bytes(mut html: String, cached: bool) -> axum::body::Bytes {
    if cached {
        html.shrink_to_fit();
    }
    axum::body::Bytes::from(html)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// About 30 words around the first matching word, escaped, with the matches in `<mark>`.
fn snippet(body: &str, terms: &[String]) -> String {
    let words: Vec<&str> = body.split_whitespace().collect();
    let hit = |w: &str| {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        terms.iter().any(|t| w.starts_with(t.as_str()))
    };
    let first = words.iter().position(|w| hit(w)).unwrap_or(0);
    let start = first.saturating_sub(10);
    let end = (start + 30).min(words.len());
    let mut out = String::new();
    if start > 0 {
        out.push_str("… ");
    }
    for (i, w) in words[start..end].iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if hit(w) {
            // Mark the word, not the punctuation around it.
            let core_start = w.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
            let core_end = w.rfind(|c: char| c.is_alphanumeric()).map_or(w.len(), |i| {
                i + w[i..].chars().next().map_or(1, char::len_utf8)
            });
            out.push_str(&escape_markup(&w[..core_start]));
            out.push_str("<mark>");
            out.push_str(&escape_markup(&w[core_start..core_end]));
            out.push_str("</mark>");
            out.push_str(&escape_markup(&w[core_end..]));
        } else {
            out.push_str(&escape_markup(w));
        }
    }
    if end < words.len() {
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_escape_and_mark() {
        let s = snippet(
            "Use a <b>spacer</b> with the inhaler, always.",
            &["inhaler".into()],
        );
        assert!(s.contains("<mark>inhaler</mark>,"), "{s}");
        assert!(!s.contains("<b>"), "{s}");
    }

    #[test]
    fn odd_page_numbers_are_page_one() {
        for raw in [
            None,
            Some(""),
            Some("0"),
            Some("-1"),
            Some("abc"),
            Some("99999999999999999999"),
        ] {
            assert_eq!(page_number(raw), 1, "{raw:?}");
        }
        assert_eq!(page_number(Some("3")), 3);
    }
}
