//! The organisers' engagement page (moderators and admins): the store's engagement figures as
//! a page with charts drawn on the server, and the same figures as a CSV file to take into a
//! spreadsheet or a report.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::charts::bar_chart;
use super::extract::Moderator;
use super::view;
use super::{AppState, WebError, download};
use crate::store::Engagement;

/// The chart box: as wide as the page's column, scaled down on a phone.
const CHART_W: u32 = 800;
const CHART_H: u32 = 220;

/// How many interests the chart shows (the table lists them all).
const CHART_INTERESTS: usize = 8;

async fn figures(state: &AppState) -> Result<Engagement, WebError> {
    let now = chrono::Utc::now().timestamp();
    state.read(move |s| s.engagement(now)).await
}

fn day_label(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%-d %b").to_string())
        .unwrap_or_default()
}

fn ymd(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Hours as a person reads them: minutes under an hour, days past two.
fn duration(hours: f64) -> String {
    if hours < 1.0 {
        format!("{} minutes", (hours * 60.0).round())
    } else if hours < 48.0 {
        format!("{hours:.1} hours")
    } else {
        format!("{:.1} days ({hours:.0} hours)", hours / 24.0)
    }
}

pub async fn page(
    State(state): State<AppState>,
    Moderator(session, _): Moderator,
) -> Result<Response, WebError> {
    let e = figures(&state).await?;
    let daily: Vec<(String, u64)> = e
        .days
        .iter()
        .map(|d| (day_label(d.start), d.posts))
        .collect();
    let weekly: Vec<(String, u64)> = e
        .weeks
        .iter()
        .map(|w| (day_label(w.start), w.posts))
        .collect();
    let interests: Vec<(String, u64)> = e
        .busiest
        .iter()
        .take(CHART_INTERESTS)
        .map(|i| (i.name.clone(), i.recent))
        .collect();
    let page = view::EngagementPage {
        head: state.head(Some(&session)),
        figures: &e,
        as_of: view::Stamp::at(Some(e.now)),
        web_share: e
            .web_percent()
            .map(|p| format!("{p:.0}%"))
            .unwrap_or_else(|| "no posts".to_owned()),
        median_reply: e
            .median_first_reply_hours
            .map(duration)
            .unwrap_or_else(|| "no replies yet".to_owned()),
        daily_chart: bar_chart("Posts per day, last 30 days", &daily, CHART_W, CHART_H),
        weekly_chart: bar_chart(
            "Posts per week, last 12 weeks (weeks from Monday)",
            &weekly,
            CHART_W,
            CHART_H,
        ),
        interests_chart: (!interests.is_empty()).then(|| {
            bar_chart(
                "Messages per interest, last 30 days",
                &interests,
                CHART_W,
                CHART_H,
            )
        }),
        liked: e
            .most_liked
            .iter()
            .map(|p| view::LikedRow {
                href: view::permalink(&p.post.message_id),
                subject: state.subject(p.post.subject.as_deref(), &p.post.list),
                author: if p.author.is_empty() {
                    "(unknown)".to_owned()
                } else {
                    p.author.clone()
                },
                when: view::Stamp::at(p.date),
                likes: p.likes,
            })
            .collect(),
        unanswered: e
            .unanswered
            .iter()
            .map(|u| view::UnansweredRow {
                href: format!("/t/{}", u.thread),
                subject: state.thread_title(u.subject.as_deref(), &u.list),
                when: view::Stamp::at(Some(u.date)),
            })
            .collect(),
    };
    Ok(view::render(&page).into_response())
}

/// One CSV field: quoted when it must be, and text that a spreadsheet would run as a formula
/// (a subject starting with "=", say: anyone can mail the list) made inert with a quote mark.
pub(super) fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The figures as rows of `figure,key,value,note`.
pub fn csv(e: &Engagement) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |figure: &str, key: String, value: String, note: String| {
        rows.push([figure.to_owned(), key, value, note]);
    };
    for d in &e.days {
        row(
            "posts_per_day",
            ymd(d.start),
            d.posts.to_string(),
            String::new(),
        );
    }
    for w in &e.weeks {
        row(
            "posts_per_week",
            ymd(w.start),
            w.posts.to_string(),
            String::new(),
        );
    }
    let totals: [(&str, String, &str); 8] = [
        ("posts_last_30_days", e.posts_last_30_days().to_string(), ""),
        (
            "active_members",
            e.active_members.to_string(),
            "distinct authors by address, last 30 days",
        ),
        (
            "active_members_with_accounts",
            e.active_with_accounts.to_string(),
            "",
        ),
        ("web_posts", e.web_posts.to_string(), "last 30 days"),
        ("mail_posts", e.mail_posts.to_string(), "last 30 days"),
        (
            "median_first_reply_hours",
            e.median_first_reply_hours
                .map(|h| format!("{h:.2}"))
                .unwrap_or_default(),
            "threads started in the last 90 days",
        ),
        (
            "replied_threads",
            e.replied_threads.to_string(),
            "threads the median is over",
        ),
        (
            "unanswered_threads",
            e.unanswered_total.to_string(),
            "started in the last 30 days",
        ),
    ];
    for (figure, value, note) in totals {
        row(figure, String::new(), value, note.to_owned());
    }
    for p in &e.most_liked {
        row(
            "likes",
            p.post.message_id.to_string(),
            p.likes.to_string(),
            p.post.subject.clone().unwrap_or_default(),
        );
    }
    for i in &e.busiest {
        row(
            "interest_messages_last_30_days",
            i.slug.clone(),
            i.recent.to_string(),
            i.name.clone(),
        );
        row(
            "interest_messages_previous_30_days",
            i.slug.clone(),
            i.previous.to_string(),
            i.name.clone(),
        );
    }
    for u in &e.unanswered {
        row(
            "unanswered_thread",
            u.thread.to_string(),
            ymd(u.date),
            u.subject.clone().unwrap_or_default(),
        );
    }
    let mut out = String::from("figure,key,value,note\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

pub async fn csv_file(State(state): State<AppState>, _: Moderator) -> Result<Response, WebError> {
    let e = figures(&state).await?;
    let csv = csv(&e);
    Ok(download(
        "text/csv; charset=utf-8",
        "engagement.csv",
        Some("private, no-store"),
        csv,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{InterestActivity, LikedPost, Period, PostRef, ThreadId};

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn csv_has_a_header_the_daily_series_and_the_figures() {
        let e = Engagement {
            now: 1_795_572_000,
            days: (0..30)
                .map(|i| Period {
                    start: 1_793_059_200 + i * 86_400,
                    posts: i as u64 % 3,
                })
                .collect(),
            weeks: vec![Period {
                start: 1_795_392_000,
                posts: 4,
            }],
            active_members: 5,
            active_with_accounts: 2,
            web_posts: 1,
            mail_posts: 3,
            median_first_reply_hours: Some(2.5),
            replied_threads: 4,
            most_liked: vec![LikedPost {
                post: PostRef {
                    message_id: "a@b".into(),
                    thread: ThreadId(1),
                    subject: Some("Spacers, masks".to_owned()),
                    list: "snug".to_owned(),
                },
                author: "Alice".to_owned(),
                date: None,
                likes: 3,
            }],
            busiest: vec![InterestActivity {
                slug: "asthma".to_owned(),
                name: "Asthma".to_owned(),
                recent: 2,
                previous: 1,
            }],
            growing: vec![],
            unanswered: vec![],
            unanswered_total: 0,
        };
        let text = csv(&e);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "figure,key,value,note");
        assert_eq!(lines[1], "posts_per_day,2026-10-27,0,");
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("posts_per_day,"))
                .count(),
            30
        );
        assert!(lines.contains(&"posts_per_week,2026-11-23,4,"));
        assert!(
            lines.contains(&"median_first_reply_hours,,2.50,threads started in the last 90 days")
        );
        assert!(lines.contains(&"likes,a@b,3,\"Spacers, masks\""));
        assert!(lines.contains(&"interest_messages_previous_30_days,asthma,1,Asthma"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0.25), "15 minutes");
        assert_eq!(duration(3.04), "3.0 hours");
        assert_eq!(duration(60.0), "2.5 days (60 hours)");
    }
}
