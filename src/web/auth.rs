//! Accounts on the web: sign-up and sign-in by a one-time link mailed through the outbox, or by
//! a password the member chose (argon2id); sessions kept in the store (only hashes of their
//! tokens) behind an HttpOnly, SameSite=Lax cookie, Secure when the forum is served over https;
//! CSRF tokens on every form (the session's own, or a double-submit cookie before sign-in);
//! sign-out here or everywhere; rate limits on sign-in, posting and flagging.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use super::extract::{
    CarriesCsrf, Client, CsrfForm, Member, SignInForm, ToAccount, TokenOnly, Viewer, carries_csrf,
};
use super::view::{self, Me};
use super::{AppState, WebError};
use crate::store::{Role, Session};

pub const SESSION_COOKIE: &str = "lb_session";
/// The double-submit token of forms shown before sign-in.
pub const FORM_COOKIE: &str = "lb_form";
/// How long a mailed sign-in link works.
const LINK_SECONDS: i64 = 3600;

/// Per-key rate limits, kept in memory (a restart forgets them, which only ever lets a
/// little more through). Password tries and sign-in mail are counted apart, so that nobody's
/// wrong passwords stop a member's links; the owner of a mailbox can always sign in by link
/// (when their address's limit is reached, a link went to it in the last three minutes).
pub struct Limits {
    /// Password tries per client and address: a stranger's guesses hold back only the stranger.
    password: DefaultKeyedRateLimiter<(String, String)>,
    /// Password tries per client, over every address.
    password_client: DefaultKeyedRateLimiter<String>,
    /// Sign-in mail per mailbox (`jane+1@` and `jane+2@` are `jane@`'s mailbox).
    link_mailbox: DefaultKeyedRateLimiter<String>,
    /// Sign-in mail asked for by one client, to any addresses.
    link_client: DefaultKeyedRateLimiter<String>,
    /// Sign-in mail to addresses without an account (sign-ups), over the whole forum: what
    /// is left of mail to strangers when many clients ask. Members' own addresses are not
    /// counted here, so nobody can use it up to keep members out.
    link_new: governor::DefaultDirectRateLimiter,
    /// Posts per member.
    posting: DefaultKeyedRateLimiter<i64>,
    /// Flags per member: enough for a bad thread, not for flagging the archive.
    flagging: DefaultKeyedRateLimiter<i64>,
    /// Picture uploads per member (each is a decode).
    uploading: DefaultKeyedRateLimiter<i64>,
}

impl Limits {
    pub fn new() -> Limits {
        let quota = |per: Duration, burst: u32| {
            Quota::with_period(per)
                .expect("a non-zero period")
                .allow_burst(NonZeroU32::new(burst).expect("a non-zero burst"))
        };
        Limits {
            // Five at once, then one every three minutes.
            password: RateLimiter::keyed(quota(Duration::from_secs(180), 5)),
            // Twenty at once, then one a minute.
            password_client: RateLimiter::keyed(quota(Duration::from_secs(60), 20)),
            // Five at once, then one every three minutes.
            link_mailbox: RateLimiter::keyed(quota(Duration::from_secs(180), 5)),
            // Ten at once, then one every two minutes.
            link_client: RateLimiter::keyed(quota(Duration::from_secs(120), 10)),
            // Fifty at once, then one every thirty seconds (120 an hour).
            link_new: RateLimiter::direct(quota(Duration::from_secs(30), 50)),
            // Ten at once, then one every twenty seconds.
            posting: RateLimiter::keyed(quota(Duration::from_secs(20), 10)),
            // Ten at once, then one every two minutes.
            flagging: RateLimiter::keyed(quota(Duration::from_secs(120), 10)),
            // Five at once, then one a minute.
            uploading: RateLimiter::keyed(quota(Duration::from_secs(60), 5)),
        }
    }

    /// A password try by `client` for `address`.
    pub fn password(&self, client: &str, address: &str) -> Result<(), WebError> {
        let refused = || WebError::TooMany("password attempts from here");
        checked(&self.password_client, &client.to_owned()).map_err(|()| refused())?;
        checked(&self.password, &(client.to_owned(), mailbox(address))).map_err(|()| refused())
    }

    /// A sign-in mail to `address`, asked for by `client`; `member`: the address has an account.
    pub fn link(&self, client: &str, address: &str) -> Result<(), WebError> {
        checked(&self.link_client, &client.to_owned())
            .map_err(|()| WebError::TooMany("sign-in links asked for from here"))?;
        checked(&self.link_mailbox, &mailbox(address)).map_err(|()| WebError::LinkSentRecently)
    }

    /// Whether a sign-up link (to an address without an account) may be mailed now. When it
    /// may not, the form answers as if it had been: a different answer would tell whoever
    /// used the limit up which addresses have accounts.
    pub fn sign_up(&self) -> bool {
        self.link_new.check().is_ok()
    }

    pub fn posting(&self, user: i64) -> Result<(), WebError> {
        self.posting
            .check_key(&user)
            .map_err(|_| WebError::TooMany("posts in a short time"))
    }

    pub fn uploading(&self, user: i64) -> Result<(), WebError> {
        self.uploading
            .check_key(&user)
            .map_err(|_| WebError::TooMany("picture uploads in a short time"))
    }

    pub fn flagging(&self, user: i64) -> Result<(), WebError> {
        self.flagging
            .check_key(&user)
            .map_err(|_| WebError::TooMany("flags in a short time"))
    }
}

/// One key's check; the limiter forgets keys that are whole again once it holds many (a
/// stranger cycling through addresses must not grow the server's memory).
fn checked<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), ()> {
    if limiter.len() > 100_000 {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|_| ())
}

/// The mailbox an address reaches, for counting: lowercased, without a sub-address
/// (`Jane+1@NHS.net` is `jane@nhs.net`).
pub(super) fn mailbox(address: &str) -> String {
    let address = address.trim().to_lowercase();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{local}@{domain}")
        }
        None => address,
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}

/// Password verification: an address without a password (or without an account) is verified
/// against a hash of a random secret made once, at the same cost, so that how long the answer
/// takes does not tell who has a password.
#[derive(Default)]
pub struct Passwords {
    dummy: std::sync::OnceLock<String>,
    /// Verifications made (each costs one argon2 run).
    verified: std::sync::atomic::AtomicU64,
}

impl Passwords {
    /// The member whose password `password` is, if `found` has one and it matches; one
    /// argon2 verification either way. Slow on purpose: call it on a blocking thread.
    fn verify(
        &self,
        found: Option<(crate::store::UserId, String)>,
        password: &str,
    ) -> Option<crate::store::UserId> {
        let dummy = self.dummy.get_or_init(|| {
            Argon2::default()
                .hash_password(crate::tokens::new_token().as_bytes())
                .map(|h| h.to_string())
                .expect("argon2 hashes a random token")
        });
        let (user, parsed) = match found
            .as_ref()
            .and_then(|(user, hash)| Some((*user, PasswordHash::new(hash).ok()?)))
        {
            Some((user, parsed)) => (Some(user), parsed),
            None => (None, PasswordHash::new(dummy).ok()?),
        };
        self.verified
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        user.filter(|_| matches)
    }

    /// How many verifications have been made.
    pub fn verifications(&self) -> u64 {
        self.verified.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Compares secrets without leaking where they differ through timing.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl AppState {
    /// The signed-in member of a request, if any (`identify` asks once per request; handlers
    /// take `extract::Viewer`).
    pub(super) async fn viewer(&self, jar: &CookieJar) -> Result<Option<Session>, WebError> {
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Ok(None);
        };
        let now = chrono::Utc::now().timestamp();
        self.session(crate::tokens::hash(&token), now).await
    }

    /// The visitor's cookies without the session cookie (their session has ended).
    pub(super) fn forget_session(&self, jar: CookieJar) -> CookieJar {
        jar.remove(self.cookie(SESSION_COOKIE, String::new(), Duration::ZERO))
    }

    fn secure_cookies(&self) -> bool {
        self.config.web.base_url.starts_with("https://")
    }

    fn cookie(&self, name: &'static str, value: String, max_age: Duration) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure_cookies())
            .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
            .build()
    }
}

/// Checks a signed-in form's CSRF token.
pub(super) fn check_csrf(session: &Session, given: &str) -> Result<(), WebError> {
    if same(&session.csrf, given) {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

/// The form token of a visitor not signed in: the one in their cookie, or a new one to set.
pub(super) fn form_token(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    match jar.get(FORM_COOKIE).map(|c| c.value().to_owned()) {
        Some(token) if token.len() == 43 => (jar, token),
        _ => {
            let token = crate::tokens::new_token();
            let jar =
                jar.add(state.cookie(FORM_COOKIE, token.clone(), Duration::from_secs(86_400)));
            (jar, token)
        }
    }
}

pub(super) fn check_form_token(jar: &CookieJar, given: &str) -> Result<(), WebError> {
    match jar.get(FORM_COOKIE) {
        Some(c) if same(c.value(), given) => Ok(()),
        _ => Err(WebError::Forbidden),
    }
}

/// Only our own paths are followed after sign-in (no open redirect): one `/` followed by
/// anything but `/`, `\` or a control character (browsers skip tabs and newlines and read `\`
/// as `/`, so `/\t/evil.example` is another site), judged on the text and on its
/// percent-decoded form alike; no control character or backslash anywhere (a CR/LF cannot
/// reach the Location header). Anything else goes to the front page.
pub(super) fn safe_next(next: Option<&str>) -> String {
    fn ours(path: &str) -> bool {
        let mut chars = path.chars();
        chars.next() == Some('/')
            && chars
                .next()
                .is_none_or(|c| c != '/' && c != '\\' && !c.is_control())
            && !path.contains(|c: char| c == '\\' || c.is_control())
    }
    match next {
        Some(n)
            if ours(n)
                && percent_encoding::percent_decode_str(n)
                    .decode_utf8()
                    .is_ok_and(|decoded| ours(&decoded)) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A plausible address: one @, a dot in the domain, no spaces, not absurdly long.
pub(super) fn valid_address(address: &str) -> bool {
    let address = address.trim();
    address.len() <= 254
        && address.split('@').count() == 2
        && address.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !address.contains(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == ',')
}

/// The sign-in page, with what was typed and what to correct.
fn sign_in_view(
    state: &AppState,
    form_token: String,
    next: String,
    email: String,
    name: String,
    problem: Option<String>,
) -> view::SignInPage {
    view::SignInPage {
        head: state.head(None),
        form_token,
        next,
        email,
        name,
        problem,
        can_mail: state.config.outbound.is_some(),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    let (jar, token) = form_token(&state, jar);
    let page = sign_in_view(
        &state,
        token,
        safe_next(q.next.as_deref()),
        String::new(),
        String::new(),
        None,
    );
    (jar, view::render(&page)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LinkForm {
    form_token: String,
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    next: String,
}

/// Mails a sign-in link. The answer is the same whether or not the address has an account, so
/// the form tells nobody who is a member.
pub async fn send_link(
    State(state): State<AppState>,
    Client(client): Client,
    SignInForm(_, form): SignInForm<LinkForm>,
) -> Result<Response, WebError> {
    let email = form.email.trim().to_lowercase();
    let name = form.name.trim().chars().take(80).collect::<String>();
    if !valid_address(&email) {
        let page = sign_in_view(
            &state,
            form.form_token,
            safe_next(Some(&form.next)),
            form.email,
            name,
            Some("Enter your email address in full, such as jane.doe@nhs.net.".into()),
        );
        return Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            view::render(&page),
        )
            .into_response());
    }
    if state.config.outbound.is_none() {
        return Err(WebError::BadRequest(
            "This forum cannot send mail yet (its config has no [outbound] section), so sign-in links cannot be sent. Ask the forum's admin.".into(),
        ));
    }
    state.limits.link(&client, &email)?;
    let lookup = email.clone();
    let member = state
        .read(move |s| Ok(s.user_by_email(&lookup)?.is_some()))
        .await?;
    if member || state.limits.sign_up() {
        mail_sign_in_link(&state, &email, name, &form.next).await?;
    }
    let page = view::MessagePage {
        head: state.head(None),
        heading: "Check your mail".into(),
        message: format!(
            "We have sent a sign-in link to {email}. It works once, for an hour. \
             If nothing arrives within a few minutes, look in your spam folder or ask for another."
        ),
    };
    Ok(view::render(&page).into_response())
}

/// Makes a one-time sign-in link for `email` and queues the mail carrying it.
async fn mail_sign_in_link(
    state: &AppState,
    email: &str,
    name: String,
    next: &str,
) -> Result<(), WebError> {
    let token = crate::tokens::new_token();
    let next = safe_next(Some(next));
    let link = format!(
        "{}/signin/{token}?next={}",
        state.config.web.base_url,
        percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
    );
    let config = Arc::clone(&state.config);
    let now = chrono::Utc::now().timestamp();
    let to = email.to_owned();
    state
        .write(move |s| {
            let known = s.user_by_email(&to)?.is_some();
            s.create_sign_in_link(
                &crate::tokens::hash(&token),
                &to,
                (!name.is_empty()).then_some(name.as_str()),
                now,
                now + LINK_SECONDS,
            )?;
            Ok(crate::forum::send_sign_in_link(
                s, &config, &to, &link, !known, now,
            ))
        })
        .await??;
    state.wake.notify_one();
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    form_token: String,
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn sign_in_password(
    State(state): State<AppState>,
    Client(client): Client,
    SignInForm(jar, form): SignInForm<PasswordForm>,
) -> Result<Response, WebError> {
    let email = form.email.trim().to_lowercase();
    state.limits.password(&client, &email)?;
    let lookup = email.clone();
    let found = state.read(move |s| s.password_hash(&lookup)).await?;
    let password = form.password;
    let passwords = Arc::clone(&state.passwords);
    let user = tokio::task::spawn_blocking(move || passwords.verify(found, &password)).await?;
    let Some(user) = user else {
        let page = sign_in_view(
            &state,
            form.form_token,
            safe_next(Some(&form.next)),
            form.email,
            String::new(),
            Some("That address and password do not match. Check them, or have a sign-in link mailed to you instead.".into()),
        );
        return Ok((axum::http::StatusCode::UNAUTHORIZED, view::render(&page)).into_response());
    };
    start_session(&state, jar, user, &safe_next(Some(&form.next))).await
}

async fn start_session(
    state: &AppState,
    jar: CookieJar,
    user: crate::store::UserId,
    next: &str,
) -> Result<Response, WebError> {
    let token = crate::tokens::new_token();
    let csrf = crate::tokens::new_token();
    let hash = crate::tokens::hash(&token);
    let now = chrono::Utc::now().timestamp();
    state
        .write(move |s| s.create_session(&hash, user, &csrf, now))
        .await?;
    let jar = jar.add(state.cookie(
        SESSION_COOKIE,
        token,
        Duration::from_secs(crate::store::SESSION_SECONDS as u64),
    ));
    Ok((jar, Redirect::to(next)).into_response())
}

/// A mailed link opens a page with one button: mail scanners that follow links must not use
/// up the link, so signing in takes a POST.
pub async fn link_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(token): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let now = chrono::Utc::now().timestamp();
    let hash = crate::tokens::hash(&token);
    let address = state.read(move |s| s.sign_in_link(&hash, now)).await?;
    let Some(address) = address else {
        return Err(WebError::Gone(
            "This sign-in link has been used or has expired. Ask for a new one on the sign-in page.",
        ));
    };
    let (jar, form_token) = form_token(&state, jar);
    let page = view::ConfirmSignInPage {
        head: state.head(None),
        form_token,
        token,
        address,
        next: safe_next(q.next.as_deref()),
    };
    Ok((jar, view::render(&page)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    form_token: String,
    #[serde(default)]
    next: String,
}

carries_csrf!(LinkForm => form_token, PasswordForm => form_token, ConfirmForm => form_token);

pub async fn use_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    SignInForm(jar, form): SignInForm<ConfirmForm>,
) -> Result<Response, WebError> {
    let now = chrono::Utc::now().timestamp();
    let hash = crate::tokens::hash(&token);
    let used = state.write(move |s| s.use_sign_in_link(&hash, now)).await?;
    let Some((user, new)) = used else {
        return Err(WebError::Gone(
            "This sign-in link has been used or has expired. Ask for a new one on the sign-in page.",
        ));
    };
    let next = if new {
        "/account?welcome=1".to_owned()
    } else {
        safe_next(Some(&form.next))
    };
    start_session(&state, jar, user, &next).await
}

pub async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    Viewer(viewer): Viewer,
    Form(form): Form<TokenOnly>,
) -> Result<Response, WebError> {
    if let Some(session) = viewer {
        check_csrf(&session, form.csrf())?;
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let hash = crate::tokens::hash(&token);
        state.write(move |s| s.end_session(&hash)).await?;
    }
    let jar = jar.remove(state.cookie(SESSION_COOKIE, String::new(), Duration::ZERO));
    Ok((jar, Redirect::to("/")).into_response())
}

pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(Member(session, _), _): CsrfForm<TokenOnly, Member<ToAccount>>,
) -> Result<Response, WebError> {
    let user = session.user.id;
    state.write(move |s| s.end_all_sessions(user)).await?;
    let jar = jar.remove(state.cookie(SESSION_COOKIE, String::new(), Duration::ZERO));
    Ok((jar, Redirect::to("/signin")).into_response())
}

/// A password's hash (argon2id with a random salt), on a blocking thread: it is slow on purpose.
pub(super) async fn hash_password(password: String) -> Result<String, WebError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|_| WebError::Internal)
    })
    .await?
}

/// What the page header shows of the signed-in member.
pub(super) fn me(session: Option<&Session>) -> Option<Me> {
    session.map(|s| Me {
        id: s.user.id.0,
        name: s.user.display_name.clone(),
        csrf: s.csrf.clone(),
        moderator: s.user.role >= Role::Moderator,
        admin: s.user.role >= Role::Admin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths_stay_on_the_site() {
        assert_eq!(safe_next(Some("/t/5")), "/t/5");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        for hostile in [
            "/\t/evil.example/",
            "/%09/evil.example/",
            "/\n/evil.example",
            "/%0d%0a/evil.example",
            "/t/1\r\nSet-Cookie: a=b",
            "/%2F/evil.example",
            "/%5Cevil.example",
            "/%00",
            "/\u{85}/evil.example",
            "/%ff",
            "",
            "evil.example",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_next(Some("/")), "/");
        assert_eq!(safe_next(Some("/m/a%40b.org")), "/m/a%40b.org");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn addresses_are_checked_for_shape() {
        assert!(valid_address("jane.doe@nhs.net"));
        for bad in [
            "",
            "jane",
            "jane@",
            "@nhs.net",
            "a@b",
            "a b@nhs.net",
            "a@@nhs.net",
            "<a@nhs.net>",
        ] {
            assert!(!valid_address(bad), "{bad}");
        }
    }

    #[test]
    fn sub_addresses_count_as_their_mailbox() {
        assert_eq!(mailbox(" Victim+1@NHS.net"), "victim@nhs.net");
        assert_eq!(mailbox("victim+a+b@nhs.net"), "victim@nhs.net");
        assert_eq!(mailbox("victim@nhs.net"), "victim@nhs.net");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
