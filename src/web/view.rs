//! The page models (askama templates, escaping by default) and the small formatting helpers
//! they share: dates, sizes, permalinks, pagination.

use crate::store::{
    Attendee, BounceRecord, Engagement, Event, InboundEntry, InterestActivity, MemberOverview,
    MessageId, Preferences, User,
};
use askama::Template;
use axum::response::Html;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters escaped in a Message-ID inside a path (it keeps `@`, `.`, `-`, `_`, `+`, `$`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'@')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'+')
    .remove(b'$');

pub const PAGE_SIZE: usize = 25;

/// The escaper of feed templates (`*.atom`, see askama.toml): the project's one escaper.
#[derive(Clone, Copy)]
pub struct Markup;

impl askama::filters::Escaper for Markup {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, text: &str) -> std::fmt::Result {
        dest.write_str(&crate::mail::sanitize::escape_markup(text))
    }
}

/// An Atom feed: the site's, a list's, an interest's or a thread's.
#[derive(Template)]
#[template(path = "feed.atom")]
pub struct Feed<'a> {
    pub title: &'a str,
    pub self_link: &'a str,
    /// The newest entry's time.
    pub updated: String,
    pub entries: &'a [FeedEntry],
}

pub struct FeedEntry {
    pub id: String,
    pub title: String,
    pub link: String,
    pub updated: Option<i64>,
    pub author: String,
    pub summary: String,
}

impl FeedEntry {
    fn updated_iso(&self) -> String {
        iso(self.updated.or(Some(0)))
    }
}

pub fn render<T: Template>(page: &T) -> Html<String> {
    render_sized(page, T::SIZE_HINT)
}

/// Draws a page into room for about `size` bytes: a large page (a thread's) grown from a
/// small buffer would be copied again at every doubling.
pub fn render_sized(page: &impl Template, size: usize) -> Html<String> {
    let mut html = String::with_capacity(size);
    match page.render_into(&mut html) {
        Ok(()) => Html(html),
        Err(e) => {
            tracing::error!(error = %e, "template error");
            Html(
                "<!DOCTYPE html><title>Error</title><p>The page could not be drawn.</p>".to_owned(),
            )
        }
    }
}

pub fn permalink(message_id: &str) -> String {
    format!("/m/{}", utf8_percent_encode(message_id, PATH_SEGMENT))
}

pub fn author_link(address: &str) -> String {
    format!("/a/{}", utf8_percent_encode(address, PATH_SEGMENT))
}

pub fn iso(secs: Option<i64>) -> String {
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub fn human(secs: Option<i64>) -> String {
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%-d %b %Y, %H:%M").to_string())
        .unwrap_or_else(|| "date unknown".to_owned())
}

pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{} KB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A moment as pages show it: for `<time datetime>`, and for people.
pub struct Stamp {
    pub iso: String,
    pub human: String,
}

impl Stamp {
    pub fn at(secs: Option<i64>) -> Stamp {
        Stamp {
            iso: iso(secs),
            human: human(secs),
        }
    }
}

/// Page numbers from 1; links keep the other query parameters.
pub struct Pager {
    pub page: usize,
    pub pages: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub fn new(page: usize, total: u64, link: impl Fn(usize) -> String) -> Pager {
        let pages = (total as usize).div_ceil(PAGE_SIZE).max(1);
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

pub struct ThreadRow {
    pub thread: i64,
    pub subject: String,
    pub list: String,
    pub replies: u64,
    pub participants: String,
    pub last: Stamp,
    pub preview: String,
}

#[derive(Template)]
#[template(path = "threads.html")]
pub struct ThreadsPage {
    pub head: Head,
    /// Where to start a new thread, on a list's page.
    pub new_thread: Option<String>,
    pub heading: String,
    pub feed: Option<String>,
    pub threads: Vec<ThreadRow>,
    pub total: u64,
    pub pager: Pager,
}

pub struct AttachmentLink {
    pub name: String,
    pub href: String,
    pub kind: String,
    pub size: String,
    pub servable: bool,
}

pub struct PostView {
    pub message_id: MessageId,
    pub likes: u64,
    /// The signed-in reader likes it.
    pub liked: bool,
    /// The reply form's address, for a signed-in reader.
    pub reply: Option<String>,
    /// The delivery state of the reader's own post (queued, sent, delivered, failed).
    pub state: Option<(String, String)>,
    pub key: i64,
    pub author: String,
    pub author_link: Option<String>,
    pub permalink: String,
    pub date: Stamp,
    /// The post it answers: (key, author).
    pub parent: Option<(i64, String)>,
    pub indent: u32,
    /// The post's content, drawn (`PostContent`).
    pub content: std::sync::Arc<str>,
}

/// What a post says on a thread page (its text or HTML, quoted text, forwarded messages and
/// attachments): the same for every reader who sees addresses alike, so it is drawn once and
/// kept, and a page for a signed-in member only lays it out.
#[derive(Template)]
#[template(path = "post_content.html")]
pub struct PostContent {
    pub body: String,
    pub elided: String,
    pub html: Option<String>,
    pub attachments: Vec<AttachmentLink>,
    /// Messages forwarded inside this one, shown nested.
    pub forwarded: Vec<ForwardedView>,
}

/// A forwarded message (message/rfc822) inside a post.
pub struct ForwardedView {
    pub subject: String,
    pub from: String,
    pub date: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "thread.html")]
pub struct ThreadPage {
    pub head: Head,
    /// (slug, name) of the thread's interests.
    pub interests: Vec<(String, String)>,
    /// Interests a moderator may add.
    pub taggable: Vec<(String, String)>,
    pub moderator: bool,
    /// The signed-in reader's choice for the thread: "watch", "mute" or "".
    pub watching: String,
    /// The event the thread announces: (id, title, when).
    pub event: Option<(i64, String, String)>,
    pub thread: i64,
    pub subject: String,
    pub list: String,
    pub nested: bool,
    pub posts: Vec<PostView>,
}

pub struct ResultView {
    pub permalink: String,
    pub subject: String,
    pub from: String,
    pub date: Stamp,
    /// Escaped text with `<mark>` around the matched words.
    pub snippet: String,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub head: Head,
    pub problem: Option<String>,
    pub total: u64,
    /// The total is counted, not estimated ("about").
    pub exact: bool,
    pub by_date: bool,
    pub date_link: String,
    pub relevance_link: String,
    pub results: Vec<ResultView>,
    pub pager: Pager,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub head: Head,
    pub heading: &'static str,
    pub message: String,
}

/// The frame around every page (`base.html`): the site's name, the search box's text and who
/// is signed in.
pub struct Head {
    pub site: String,
    pub query: String,
    pub me: Option<Me>,
}

/// The signed-in member, as the page header shows them.
#[derive(Debug, Clone)]
pub struct Me {
    pub id: i64,
    pub name: String,
    /// Every form of the page carries it.
    pub csrf: String,
    pub moderator: bool,
    pub admin: bool,
}

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    pub head: Head,
    pub form_token: String,
    pub next: String,
    pub email: String,
    pub name: String,
    pub problem: Option<String>,
    pub can_mail: bool,
}

#[derive(Template)]
#[template(path = "confirm_signin.html")]
pub struct ConfirmSignInPage {
    pub head: Head,
    pub form_token: String,
    pub token: String,
    pub address: String,
    pub next: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub head: Head,
    pub heading: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub head: Head,
    pub user: &'a User,
    pub emails: Vec<String>,
    pub notice: Option<String>,
    pub problem: Option<String>,
}

pub struct ProfilePost {
    pub permalink: String,
    pub subject: String,
    pub list: String,
    pub date: Stamp,
}

#[derive(Template)]
#[template(path = "profile.html")]
pub struct ProfilePage {
    pub head: Head,
    pub user: User,
    pub role: Option<&'static str>,
    pub joined: String,
    /// (slug, name) of the interests they follow.
    pub interests: Vec<(String, String)>,
    pub total: u64,
    pub posts: Vec<ProfilePost>,
}

#[derive(Template)]
#[template(path = "compose.html")]
pub struct ComposePage {
    pub head: Head,
    pub heading: String,
    pub action: String,
    pub back: String,
    pub parent_id: String,
    pub parent_author: String,
    pub parent_text: String,
    pub is_reply: bool,
    pub subject: String,
    pub text: String,
    /// Sanitised HTML of the draft.
    pub preview: Option<String>,
    pub problem: Option<String>,
    pub can_post: bool,
}

#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersPage {
    pub head: Head,
    pub members: Vec<MemberOverview>,
    pub notice: String,
}

#[derive(Template)]
#[template(path = "inbound.html")]
pub struct InboundPage {
    pub head: Head,
    pub entries: Vec<InboundEntry>,
    /// Addresses that bounced, with their history.
    pub bounces: Vec<BounceRecord>,
    /// What was just done.
    pub notice: String,
}

#[derive(Template)]
#[template(path = "interests.html")]
pub struct InterestsPage {
    pub head: Head,
    /// (slug, name, description)
    pub interests: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "preferences.html")]
pub struct PreferencesPage<'a> {
    pub head: Head,
    /// Where the form posts: the member's own page, or a signed link.
    pub action: String,
    /// The session's token; empty on a signed link (the link is the proof).
    pub csrf: String,
    /// (slug, name, mode)
    pub interests: Vec<(String, String, String)>,
    pub prefs: &'a Preferences,
    pub notice: Option<String>,
}

/// An interest as the admin form shows it.
#[derive(Debug, Clone, Default)]
pub struct InterestForm {
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Comma-separated.
    pub keywords: String,
    /// One per line.
    pub patterns: String,
}

#[derive(Template)]
#[template(path = "admin_interests.html")]
pub struct AdminInterestsPage {
    pub head: Head,
    pub interests: Vec<InterestForm>,
    pub draft: InterestForm,
    pub problem: Option<String>,
}

pub struct LikedRow {
    pub href: String,
    pub subject: String,
    pub author: String,
    pub when: Stamp,
    pub likes: u64,
}

pub struct UnansweredRow {
    pub href: String,
    pub subject: String,
    pub when: Stamp,
}

#[derive(Template)]
#[template(path = "engagement.html")]
pub struct EngagementPage<'a> {
    pub head: Head,
    /// The figures as the store counted them; what follows is drawn from them.
    pub figures: &'a Engagement,
    pub as_of: Stamp,
    pub web_share: String,
    pub median_reply: String,
    /// Inline SVG drawn by `charts`, its text escaped there.
    pub daily_chart: String,
    pub weekly_chart: String,
    pub interests_chart: Option<String>,
    pub liked: Vec<LikedRow>,
    pub unanswered: Vec<UnansweredRow>,
}

/// An interest's change against the previous 30 days, with the ratio when there was any before.
pub fn interest_change(i: &InterestActivity) -> String {
    let change = i.increase();
    match i.ratio() {
        Some(r) => format!("{change:+} (×{r:.1})"),
        None if change > 0 => format!("{change:+} (new)"),
        None => "0".to_owned(),
    }
}

/// An event in a list of events.
pub struct EventRow {
    pub id: i64,
    pub title: String,
    pub when: String,
    pub start_iso: String,
    pub place: String,
    pub places: String,
    pub cancelled: bool,
}

#[derive(Template)]
#[template(path = "events.html")]
pub struct EventsPage {
    pub head: Head,
    pub upcoming: bool,
    pub events: Vec<EventRow>,
    pub can_announce: bool,
}

#[derive(Template)]
#[template(path = "event.html")]
pub struct EventPage<'a> {
    pub head: Head,
    pub event: &'a Event,
    pub when: String,
    pub start_iso: String,
    pub place: String,
    pub online_url: String,
    /// Sanitised HTML.
    pub description: String,
    /// The discussion thread; 0 before its message is archived.
    pub thread: i64,
    pub capacity: String,
    pub places: String,
    pub full: bool,
    pub open: bool,
    pub deadline: String,
    /// (id, name, price)
    pub tickets: Vec<(i64, String, String)>,
    pub payment_url: String,
    /// "confirmed", "waiting" or "none".
    pub my_state: &'static str,
    pub my_position: u32,
    pub organiser_view: bool,
    pub notice: String,
}

/// A registration on the organiser's page, with its place and time in words.
pub struct AttendeeRow {
    pub attendee: Attendee,
    pub state: String,
    pub registered: String,
}

#[derive(Template)]
#[template(path = "attendees.html")]
pub struct AttendeesPage {
    pub head: Head,
    pub id: i64,
    pub title: String,
    pub places: String,
    /// The limits' form, filled in.
    pub capacity: String,
    pub deadline: String,
    pub payment_url: String,
    pub time_zone: String,
    pub rows: Vec<AttendeeRow>,
}

#[derive(Template)]
#[template(path = "event_form.html")]
pub struct EventFormPage {
    pub head: Head,
    pub lists: Vec<String>,
    pub list: String,
    pub title: String,
    pub description: String,
    pub starts: String,
    pub ends: String,
    pub time_zone: String,
    pub place: String,
    pub online_url: String,
    pub capacity: String,
    pub deadline: String,
    pub payment_url: String,
    pub tickets: String,
    /// (slug, name, ticked)
    pub interests: Vec<(String, String, bool)>,
    pub problems: Vec<String>,
}

pub struct HeldRow {
    pub id: i64,
    pub subject: String,
    pub author: String,
    pub list: String,
    /// "web post" or "mail".
    pub kind: &'static str,
    pub when: Stamp,
    pub reason: String,
    pub body: String,
    /// A web post's text can be corrected before it is published.
    pub editable: bool,
}

/// A post members flagged, as the moderators' queue shows it.
pub struct FlaggedRow {
    pub message_id: MessageId,
    pub permalink: String,
    pub subject: String,
    pub author: String,
    pub list: String,
    /// Hidden by the flags (or a moderator) already.
    pub hidden: bool,
    pub body: String,
    /// Each flag: (reason, note, who, when).
    pub flags: Vec<(String, String, String, Stamp)>,
}

/// A hidden post, to be shown again if need be.
pub struct HiddenRow {
    pub message_id: MessageId,
    pub subject: String,
    pub author: String,
    /// "a moderator (Alice)" or "members' flags".
    pub by: String,
    pub when: Stamp,
    pub note: String,
}

/// A threading fix in force: what it does, in words, with links to the posts it names.
pub struct FixRow {
    pub id: i64,
    /// The words before the fixed post's link, and between it and the target's.
    pub before: String,
    pub middle: String,
    pub message: String,
    pub target: Option<String>,
    pub by: String,
    pub when: Stamp,
}

/// A line of the moderation log.
pub struct LogRow {
    pub who: String,
    pub action: String,
    pub message: Option<String>,
    pub target: Option<String>,
    pub detail: String,
    pub when: Stamp,
}

#[derive(Template)]
#[template(path = "held.html")]
pub struct HeldPage {
    pub head: Head,
    pub posts: Vec<HeldRow>,
    pub flagged: Vec<FlaggedRow>,
    pub hidden: Vec<HiddenRow>,
    pub fixes: Vec<FixRow>,
    pub log: Vec<LogRow>,
    pub notice: String,
}

/// A member's confirmation before erasing their account.
#[derive(Template)]
#[template(path = "erase.html")]
pub struct ErasePage {
    pub head: Head,
    /// Archived messages from the member's addresses.
    pub messages: u64,
    /// The policy: redact (else remove).
    pub redact: bool,
    pub problem: Option<String>,
}

/// One entry of the erasure audit log.
pub struct ErasureRow {
    pub id: i64,
    pub when: Stamp,
    pub what: &'static str,
    pub who: String,
    pub policy: String,
    pub target: String,
    pub messages: u64,
    pub copies: u64,
    pub attachments: u64,
    pub other_rows: u64,
    pub reason: String,
}

/// The message a purge is about to take out, shown for the admin to check.
pub struct PurgeConfirm {
    pub message_id: MessageId,
    pub permalink: String,
    pub subject: String,
    pub author: String,
    pub date: Stamp,
}

/// Admins: purge a message, and the audit log of erasures and purges.
#[derive(Template)]
#[template(path = "erasures.html")]
pub struct ErasuresPage {
    pub head: Head,
    pub redact: bool,
    pub message_id: MessageId,
    pub reason: String,
    pub keep_subject: bool,
    pub confirm: Option<PurgeConfirm>,
    pub notice: String,
    pub problem: Option<String>,
    pub entries: Vec<ErasureRow>,
}
