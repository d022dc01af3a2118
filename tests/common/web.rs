//! A small web client for tests that drive a running forum over its socket: keeps cookies and
//! sends forms as the in-process [`super::app`] visitor does, reads a form's hidden tokens out
//! of a page, and follows nothing by itself (tests check each redirect).

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use super::app::hidden;
use super::app::{Visitor, form_body};

pub struct Web {
    base: String,
    client: Client<HttpConnector, Full<axum::body::Bytes>>,
    visitor: Visitor,
}

/// A response: status, Location header (if any), body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// The Message-ID of a post, from the answer to its form (a redirect to `/m/ID`).
pub fn posted_id(answer: Answer) -> String {
    assert_eq!(answer.status, 303, "posting: {}", answer.body);
    percent_encoding::percent_decode_str(answer.location.unwrap().trim_start_matches("/m/"))
        .decode_utf8()
        .unwrap()
        .into_owned()
}

impl Web {
    pub fn new(base: &str) -> Web {
        Web {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            visitor: Visitor::default(),
        }
    }

    async fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Answer {
        self.try_send(method, path, form)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A request that may fail (no server, connection cut): the error, said with the URL.
    async fn try_send(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Result<Answer, String> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = axum::http::Request::builder().method(method).uri(&url);
        if let Some(cookie) = self.visitor.cookie_header() {
            request = request.header("cookie", cookie);
        }
        let body = match form {
            Some(fields) => {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                form_body(fields)
            }
            None => String::new(),
        };
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.client.request(
                request
                    .body(Full::new(axum::body::Bytes::from(body)))
                    .unwrap(),
            ),
        )
        .await
        .map_err(|_| format!("{url} did not answer in 30 s"))?
        .map_err(|e| format!("{url}: {e}"))?;
        self.visitor.keep_cookies(response.headers());
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.send("POST", path, Some(fields)).await
    }

    /// Sends the new-thread form of `list` (its CSRF token read from the form): the answer.
    pub async fn post_new_thread(&mut self, list: &str, subject: &str, text: &str) -> Answer {
        let path = format!("/l/{list}/new");
        let form = self.get(&path).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = hidden(&form.body, "csrf");
        let fields = [
            ("csrf", csrf.as_str()),
            ("subject", subject),
            ("text", text),
            ("action", "post"),
        ];
        self.post(&path, &fields).await
    }

    /// Starts a thread in `list` on the web, as the signed-in member: its Message-ID.
    pub async fn start_thread(&mut self, list: &str, subject: &str, text: &str) -> String {
        posted_id(self.post_new_thread(list, subject, text).await)
    }

    /// [`Web::get`] against a server that may be down or stopping: the error instead of a panic.
    pub async fn try_get(&mut self, path: &str) -> Result<Answer, String> {
        self.try_send("GET", path, None).await
    }

    /// [`Web::post`] against a server that may be down or stopping.
    pub async fn try_post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Answer, String> {
        self.try_send("POST", path, Some(fields)).await
    }

    /// Sets a cookie as a server would have (a session made outside the browser flow).
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.visitor
            .cookies
            .insert(name.to_owned(), value.to_owned());
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.visitor.cookies.contains_key(name)
    }

    /// Signs in with a one-time link (as printed by `admin create` or mailed): opens it, then
    /// presses its button.
    pub async fn sign_in_with_link(&mut self, link: &str) -> Answer {
        let page = self.get(link).await;
        assert_eq!(page.status, 200, "{link}: {}", page.body);
        let token = hidden(&page.body, "form_token");
        let path = link
            .split("://")
            .nth(1)
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            .unwrap_or(link);
        let path = path.split('?').next().unwrap().to_owned();
        let answer = self
            .post(&path, &[("form_token", &token), ("next", "/")])
            .await;
        assert_eq!(answer.status, 303, "signing in: {}", answer.body);
        assert!(
            self.has_cookie("lb_session"),
            "no session cookie after signing in"
        );
        answer
    }
}
