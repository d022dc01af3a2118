//! Who is asking, as handler arguments: the signed-in member's session (`Viewer`, looked up
//! once per request by `identify`), a member or a moderator or admin required (`Member`,
//! `Moderator`, `Admin`: anyone not signed in goes to the sign-in page and comes back to the
//! page their `Back` names; a member below the role is refused), and a form checked against
//! the session's CSRF token (`CsrfForm`). A handler cannot forget a check its arguments name.

use std::marker::PhantomData;

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::de::DeserializeOwned;

use super::auth::{check_csrf, check_form_token};
use super::{AppState, WebError};
use crate::store::{Role, Session};

/// The session `identify` found for the request (None: not signed in), kept in the request's
/// extensions so that handlers do not look it up again.
#[derive(Clone)]
pub(super) struct Identified(pub Option<Session>);

/// The signed-in member's session, if any.
pub struct Viewer(pub Option<Session>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        if let Some(Identified(session)) = parts.extensions.get::<Identified>() {
            return Ok(Viewer(session.clone()));
        }
        let jar = CookieJar::from_headers(&parts.headers);
        Ok(Viewer(state.viewer(&jar).await?))
    }
}

impl Viewer {
    /// The signed-in member, or a redirect to the sign-in page that comes back to `back`.
    pub fn member(self, back: &str) -> Result<Session, WebError> {
        self.0.ok_or_else(|| WebError::SignIn(back.to_owned()))
    }

    /// The signed-in member when their role is at least `role`; a reader not signed in goes to
    /// the sign-in page, a member below the role is refused.
    pub fn staff(self, back: &str, role: Role) -> Result<Session, WebError> {
        let session = self.member(back)?;
        if session.user.role < role {
            return Err(WebError::Forbidden);
        }
        Ok(session)
    }
}

/// The client asking, as the network tells (for per-client limits): the connection's address,
/// or behind a reverse proxy the last address of `[web] client_address_header`; an IPv6
/// client by its /64 (one host holds a whole one). "unknown" when neither is known.
pub struct Client(pub String);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        use std::net::{IpAddr, SocketAddr};
        let proxied = state
            .config
            .web
            .client_address_header
            .as_deref()
            .and_then(|name| parts.headers.get_all(name).iter().next_back())
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Client(match proxied.or(peer) {
            Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Some(IpAddr::V6(v6)) => v6
                .to_ipv4_mapped()
                .map(|v4| v4.to_string())
                .unwrap_or_default(),
            Some(ip) => ip.to_string(),
            None => "unknown".to_owned(),
        }))
    }
}

/// Where the sign-in page sends a reader back to, from the request's path.
pub trait Back {
    fn back(path: &str) -> String;
}

/// The page asked for (its path, decoded as the router decodes it).
pub struct Here;

impl Back for Here {
    fn back(path: &str) -> String {
        percent_encoding::percent_decode_str(path)
            .decode_utf8_lossy()
            .into_owned()
    }
}

/// Pages whose forms post elsewhere: the reader comes back to the page, not to the form's
/// address.
macro_rules! back_to {
    ($($(#[$doc:meta])* $name:ident: $path:literal),+ $(,)?) => {
        $($(#[$doc])*
        pub struct $name;

        impl Back for $name {
            fn back(_: &str) -> String {
                $path.to_owned()
            }
        })+
    };
}

back_to!(
    /// The account page.
    ToAccount: "/account",
    /// The moderators' page.
    ToHeld: "/admin/held",
    /// The admins' members page.
    ToMembers: "/admin/members",
    /// The refused-mail page.
    ToInbound: "/admin/inbound",
    /// The admins' erasure page.
    ToErasures: "/admin/erasures",
    /// The front page (a like can come from any page).
    ToFront: "/",
);

/// The page of the thread or event a form was posted from (`/t/5/reply` to `/t/5`,
/// `/events/5/cancel` to `/events/5`), its number written as a number.
pub struct ToItem;

impl Back for ToItem {
    fn back(path: &str) -> String {
        let path = Here::back(path);
        let mut parts = path.split('/').skip(1);
        match (
            parts.next(),
            parts.next().and_then(|n| n.parse::<i64>().ok()),
        ) {
            (Some(kind), Some(n)) => format!("/{kind}/{n}"),
            _ => path,
        }
    }
}

/// The session of a signed-in member whose role is at least `role`.
async fn signed_in(
    parts: &mut Parts,
    state: &AppState,
    back: fn(&str) -> String,
    role: Role,
) -> Result<Session, WebError> {
    let viewer = Viewer::from_request_parts(parts, state).await?;
    viewer.staff(&back(parts.uri.path()), role)
}

/// The session behind a signed-in extractor.
pub trait Signed {
    fn session(&self) -> &Session;
}

/// Extractors of a signed-in member whose role is at least the one named; the reader not
/// signed in goes to the sign-in page, and back to `B` afterwards.
macro_rules! signed_in_as {
    ($($(#[$doc:meta])* $name:ident: $role:ident),+ $(,)?) => {
        $($(#[$doc])*
        pub struct $name<B = Here>(pub Session, pub PhantomData<B>);

        impl<B: Back> FromRequestParts<AppState> for $name<B> {
            type Rejection = WebError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, WebError> {
                let session = signed_in(parts, state, B::back, Role::$role).await?;
                Ok($name(session, PhantomData))
            }
        }

        impl<B> Signed for $name<B> {
            fn session(&self) -> &Session {
                &self.0
            }
        })+
    };
}

signed_in_as!(
    /// A signed-in member.
    Member: Member,
    /// A signed-in moderator (or admin); a member below is refused.
    Moderator: Moderator,
    /// A signed-in admin; a member below is refused.
    Admin: Admin,
);

/// A form that carries its token: its session's CSRF token, or on the sign-in pages the form
/// token of the visitor's cookie.
pub trait CarriesCsrf {
    fn csrf(&self) -> &str;
}

/// A form read as its fields in order (the preferences form, whose fields are named by the
/// interests): its token is the `csrf` field, if any.
impl CarriesCsrf for Vec<(String, String)> {
    fn csrf(&self) -> &str {
        self.iter()
            .find(|(k, _)| k == "csrf")
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Forms whose token is their `csrf` field (or the field named, as `form_token` on the
/// sign-in pages).
macro_rules! carries_csrf {
    ($($form:ty => $field:ident),+ $(,)?) => {
        $(impl $crate::web::extract::CarriesCsrf for $form {
            fn csrf(&self) -> &str {
                &self.$field
            }
        })+
    };
    ($($form:ty),+ $(,)?) => {
        carries_csrf!($($form => csrf),+);
    };
}
pub(super) use carries_csrf;

/// A posted form from a signed-in member (`W`: `Member`, `Moderator` or `Admin`) with its
/// session's token. Checked in the order the handlers always checked: the form's shape (as
/// axum's `Form` judges it), then who sent it, then the token (a forged or stale form is
/// refused).
pub struct CsrfForm<T, W = Member>(pub W, pub T);

impl<T, W> FromRequest<AppState> for CsrfForm<T, W>
where
    T: DeserializeOwned + CarriesCsrf + Send,
    W: FromRequestParts<AppState, Rejection = WebError> + Signed + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        // Finding who asks has no effect, so its answer can wait until the form is judged.
        let who = W::from_request_parts(&mut parts, state).await;
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let who = who.map_err(IntoResponse::into_response)?;
        check_csrf(who.session(), form.csrf()).map_err(IntoResponse::into_response)?;
        Ok(CsrfForm(who, form))
    }
}

/// A form from a visitor not signed in (the sign-in pages), checked against the form token of
/// their cookie once axum's `Form` has judged its shape; the cookies come with it, for the
/// answer to add to.
pub struct SignInForm<T>(pub CookieJar, pub T);

impl<T> FromRequest<AppState> for SignInForm<T>
where
    T: DeserializeOwned + CarriesCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(request.headers());
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        check_form_token(&jar, form.csrf()).map_err(IntoResponse::into_response)?;
        Ok(SignInForm(jar, form))
    }
}

/// A store key in the path (`/t/{thread}`, `/events/{id}`): a path that is not a number names
/// nothing here, so it is "not found" (as a key that names no row).
pub struct Id<K>(pub K);

/// A store key that a path may name, and what it is called in "not found" pages.
pub trait Key: Sized {
    const WHAT: &'static str;
    fn from_number(n: i64) -> Self;
}

impl<K: Key + Send> FromRequestParts<AppState> for Id<K> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        raw.parse()
            .map(|n| Id(K::from_number(n)))
            .map_err(|_| WebError::NotFound(K::WHAT).into_response())
    }
}

macro_rules! keys {
    ($($key:ident: $what:literal),+ $(,)?) => {
        $(impl Key for crate::store::$key {
            const WHAT: &'static str = $what;
            fn from_number(n: i64) -> Self {
                crate::store::$key(n)
            }
        })+
    };
}

keys!(
    ThreadId: "thread",
    UserId: "member",
    EventId: "event",
    HeldId: "held post",
    FixId: "fix",
);

/// A form with nothing but its token: a button.
#[derive(Debug, serde::Deserialize)]
pub struct TokenOnly {
    csrf: String,
}

carries_csrf!(TokenOnly);
