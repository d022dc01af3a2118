//! A small web client for tests that drive a running forum: keeps cookies, reads a form's
//! hidden tokens out of a page, and follows nothing by itself (tests check each redirect).

use std::collections::HashMap;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub struct Web {
    base: String,
    client: Client<HttpConnector, Full<axum::body::Bytes>>,
    cookies: HashMap<String, String>,
}

/// A response: status, Location header (if any), body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Web {
    pub fn new(base: &str) -> Web {
        Web {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            cookies: HashMap::new(),
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
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", cookie);
        }
        let body = match form {
            Some(fields) => {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                fields
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect::<Vec<_>>()
                    .join("&")
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
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
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
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
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

/// The value of a hidden input of a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in the page:\n{page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
