//! The web forum in a real headless Chromium, driven over WebDriver (chromedriver) with
//! fantoccini: open the bundled demo, search by typing in the search box, land on a post through
//! its permalink, unfold quoted text, follow permalinks, page through results, use the keyboard,
//! read the browser console for errors (CSP violations are reported there), and do it all again
//! with JavaScript turned off. Every page visited is saved as a PNG in `target/screenshots/` for
//! a person to look at. Needs Debian's chromium and chromium-driver; fails, never skips, when
//! they are missing (`scripts/test` installs them). Run with `--features browser`.
#![cfg(feature = "browser")]

mod common;

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use axum::http::{Method, Request};
use base64::Engine;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The flags Chromium needs here: headless as root in a container, and quiet on the network
/// (without the background-networking flags it keeps dialling out and the closed network
/// refuses it, many connections at a time).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// How long a server or a page may take to appear before the test gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// Reading the demo: home, keyboard, search, permalink, quoted text, nested view, author and
/// list pages, a phone-width thread; and no error in the browser console throughout.
#[tokio::test]
async fn demo_can_be_searched_and_read_in_chromium() -> Result<()> {
    let browser = Chromium::start(true).await?;
    let (_demo, base) = start_demo(browser.dir()).await?;
    browser.took("[demo]", "chromedriver, demo and Chromium up in");

    // Home: the latest threads.
    browser.go(&base, "/").await?;
    ensure!(
        browser.title().await?.contains("SNUG forum (demo)"),
        "home page title"
    );
    let threads = browser.find_all("ol.threads > li").await?;
    ensure!(!threads.is_empty(), "the home page lists no thread");
    browser.shoot("home").await?;

    // Keyboard: the first Tab from the top reaches the skip link, which then shows on screen,
    // and Enter on it moves focus to the main content.
    browser.press(Key::Tab).await?;
    let focused = browser.focused().await?;
    ensure!(
        focused.attr("class").await?.as_deref() == Some("skip"),
        "the first Tab should focus the skip link, not {:?}",
        focused.html(false).await?
    );
    ensure!(focused.text().await? == "Skip to content", "skip link text");
    let (x, y, _, _) = focused.rectangle().await?;
    ensure!(
        x >= 0.0 && y >= 0.0,
        "the focused skip link is off screen at ({x}, {y})"
    );
    browser.shoot("home-skip-link-focused").await?;
    browser.press(Key::Enter).await?;
    ensure!(
        browser.here().await?.fragment.as_deref() == Some("main"),
        "skip link target"
    );
    let focused = browser.focused().await?;
    ensure!(
        focused.attr("id").await?.as_deref() == Some("main"),
        "after Enter on the skip link, focus should be on <main>, not {:?}",
        focused.html(false).await?
    );

    // Search: typed into the search box and submitted with the button, as a reader does.
    let phrase = "\"inspiratory flow\"";
    browser.fill("q", phrase).await?;
    browser
        .follow("form.search button[type=submit]", "/search")
        .await?;
    let count = browser.text_of("p.count").await?;
    ensure!(
        count.starts_with("1 message ") && count.contains(phrase),
        "result count text: {count:?}"
    );
    let marks = browser.find_all("ol.results .snippet mark").await?;
    ensure!(!marks.is_empty(), "no <mark> in the search snippets");
    ensure!(
        marks[0]
            .text()
            .await?
            .to_lowercase()
            .starts_with("inspiratory"),
        "marked word"
    );
    ensure!(
        !browser.has("nav.pager").await?,
        "one page of results should have no pager"
    );
    browser.shoot("search").await?;

    // The result is a permalink: /m/{id} answers 303 to the thread, on the post itself.
    let result = browser.find("ol.results > li h2 a").await?;
    let permalink = result.attr("href").await?.context("result link")?;
    ensure!(
        permalink.starts_with("/m/"),
        "a result should link to its permalink: {permalink}"
    );
    result.click().await?;
    browser.wait_for_path("/t/").await?;
    let landed = browser.target().await?;
    let post = browser.find(":target").await?;
    ensure!(
        post.text().await?.contains("inspiratory flow"),
        "the post landed on is another one"
    );
    let top = browser
        .js("return document.querySelector(':target').getBoundingClientRect().top")
        .await?;
    let height = browser.js("return window.innerHeight").await?;
    ensure!(
        top.as_f64()
            .zip(height.as_f64())
            .is_some_and(|(t, h)| (-1.0..h).contains(&t)),
        "the post landed on is not in view (top {top}, viewport {height})"
    );
    browser.shoot("thread-permalink").await?;

    // Quoted text is folded away and unfolds with a click on its summary.
    let details = post.find(Locator::Css("details.elided")).await?;
    let quoted = details.find(Locator::Css(".body")).await?;
    ensure!(
        details.prop("open").await?.as_deref() == Some("false"),
        "quoted text starts folded"
    );
    ensure!(
        !quoted.is_displayed().await?,
        "folded quoted text should not be visible"
    );
    details.find(Locator::Css("summary")).await?.click().await?;
    ensure!(
        details.prop("open").await?.as_deref() == Some("true"),
        "details did not open"
    );
    ensure!(
        quoted.is_displayed().await?,
        "unfolded quoted text is not visible"
    );
    ensure!(
        !quoted.text().await?.trim().is_empty(),
        "unfolded quoted text is empty"
    );
    browser.shoot("thread-quoted-text").await?;

    // Following another post's permalink lands on that post, in the same thread.
    let thread_path = browser.here().await?.path;
    let links = browser.find_all("a[title='Permanent link']").await?;
    let other = links.last().context("no permalink in the thread")?;
    let other_href = other.attr("href").await?.context("permalink href")?;
    ensure!(
        other_href != permalink,
        "the last post is the one landed on"
    );
    other.click().await?;
    browser
        .wait_for(|here| here.fragment.as_ref().is_some_and(|f| *f != landed))
        .await?;
    ensure!(browser.here().await?.path == thread_path, "left the thread");
    let other_post = browser.target().await?;
    let own_link = browser
        .attr_of(":target a[title='Permanent link']", "href")
        .await?;
    ensure!(
        own_link.as_deref() == Some(other_href.as_str()),
        "landed on {other_post}, not {other_href}"
    );
    browser.shoot("thread-followed-permalink").await?;

    // The nested view indents replies.
    browser.click_link("Show as a tree").await?;
    browser
        .wait_for(|here| here.query.as_deref() == Some("view=nested"))
        .await?;
    ensure!(
        browser.has("li.post.depth-1").await?,
        "the nested view indents no reply"
    );
    browser.shoot("thread-nested").await?;

    // Author and list pages, reached by their links.
    browser.follow("li.post h2.author a", "/a/").await?;
    ensure!(browser.has("main li").await?, "author page is empty");
    browser.shoot("author").await?;
    browser.go(&base, &thread_path).await?;
    browser.follow("main p.meta a[href^='/l/']", "/l/").await?;
    browser.shoot("list").await?;

    // A phone: 375 × 812 CSS pixels; the thread must not scroll sideways.
    browser.go(&base, &thread_path).await?;
    browser
        .cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": true}),
        )
        .await?;
    browser.refresh().await?;
    let widths = browser
        .js("return [window.innerWidth, document.documentElement.scrollWidth]")
        .await?;
    ensure!(
        widths[0] == 375,
        "the phone emulation did not apply: {widths}"
    );
    ensure!(
        widths[1].as_u64() <= widths[0].as_u64(),
        "the thread overflows sideways on a phone: {widths}"
    );
    browser.shoot_viewport("thread-phone").await?;
    browser
        .cdp("Emulation.clearDeviceMetricsOverride", json!({}))
        .await?;

    // Nothing went wrong in the console along the way (this includes CSP violations).
    browser.console_is_clean().await?;
    // And that check is not blind: an inline style, which the CSP forbids, shows up in it.
    browser
        .js("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
        .await?;
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(browser.console_errors().await?);
        if seen.iter().any(|e| e.contains("Content Security Policy")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(
        seen.iter().any(|e| e.contains("Content Security Policy")),
        "a CSP violation did not reach the console log: {seen:?}"
    );

    browser.close("[demo]").await
}

/// Paging through search results: 60 generated messages give three pages of 25, 25 and 10,
/// walked with the rel=next / rel=prev links, every result seen exactly once.
#[tokio::test]
async fn search_results_page_through() -> Result<()> {
    let browser = Chromium::start(true).await?;
    let work = browser.dir();

    let port = free_port();
    let config = work.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = {db:?}\n[web]\nlisten = \"127.0.0.1:{port}\"\nsite_name = \"Spirometry forum\"\n\
             [[lists]]\nname = \"resp\"\n",
            db = work.join("archive.db").display().to_string()
        ),
    )?;
    let mbox = work.join("spirometry.mbox");
    std::fs::write(&mbox, spirometry_mbox(60))?;
    let import = Command::new(env!("CARGO_BIN_EXE_listbridge"))
        .arg("--config")
        .arg(&config)
        .arg("import")
        .arg(&mbox)
        .output()?;
    ensure!(
        import.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    let mut serve = Proc::spawn(
        "listbridge serve",
        {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_listbridge"));
            cmd.arg("--config").arg(&config).arg("serve");
            cmd
        },
        &work.join("serve.log"),
    )?;
    let base = format!("http://127.0.0.1:{port}");
    serve.wait_until_answers(&format!("{base}/healthz")).await?;
    browser.took("[pager]", "60 messages imported, servers up in");

    let count = browser.search(&base, "spirometry").await?;
    ensure!(
        count.starts_with("60 messages match"),
        "result count text: {count:?}"
    );

    let mut seen = HashSet::new();
    for (page, expected) in [(1, 25), (2, 25), (3, 10)] {
        let status = browser.text_of("nav.pager span").await?;
        ensure!(
            status == format!("Page {page} of 3"),
            "pager says {status:?} on page {page}"
        );
        let links = browser.find_all("ol.results > li h2 a").await?;
        ensure!(
            links.len() == expected,
            "{} results on page {page}, not {expected}",
            links.len()
        );
        for link in links {
            let href = link.attr("href").await?.context("result href")?;
            ensure!(seen.insert(href.clone()), "{href} shown on two pages");
        }
        let prev = browser.find_all("nav.pager a[rel=prev]").await?;
        let next = browser.find_all("nav.pager a[rel=next]").await?;
        ensure!(
            prev.is_empty() == (page == 1),
            "rel=prev link on page {page}"
        );
        ensure!(
            next.is_empty() == (page == 3),
            "rel=next link on page {page}"
        );
        browser.shoot(&format!("search-page-{page}")).await?;
        if let Some(next) = next.first() {
            let before = browser.here().await?.full;
            next.click().await?;
            browser.wait_for(|here| here.full != before).await?;
        }
    }
    ensure!(
        seen.len() == 60,
        "{} distinct results over three pages",
        seen.len()
    );
    // And back again.
    browser.click("nav.pager a[rel=prev]").await?;
    browser
        .wait_for_text("nav.pager span", "Page 2 of 3")
        .await?;

    browser.console_is_clean().await?;
    browser.close("[pager]").await
}

/// With JavaScript off, search (a plain GET form), permalinks and quoted text still work.
#[tokio::test]
async fn demo_works_without_javascript() -> Result<()> {
    let browser = Chromium::start(false).await?;
    let (_demo, base) = start_demo(browser.dir()).await?;
    browser.took("[no-js]", "servers up in");

    // Make sure scripts really are off: a page whose script would rename it keeps its title.
    browser
        .visit("data:text/html,<title>off</title><script>document.title='on'</script>")
        .await?;
    ensure!(
        browser.title().await? == "off",
        "JavaScript is still on in this session"
    );

    let count = browser.search(&base, "rescue packs").await?;
    ensure!(
        count.contains("messages match"),
        "result count text: {count:?}"
    );
    ensure!(
        browser.has("ol.results mark").await?,
        "no <mark> in the results"
    );
    browser.shoot("nojs-search").await?;

    browser.follow("ol.results > li h2 a", "/t/").await?;
    browser.target().await?;
    browser.shoot("nojs-thread").await?;
    // <details> needs no script: any folded quote on the page opens with a click.
    let details = browser.find_all("details.elided").await?;
    if let Some(details) = details.first() {
        details.find(Locator::Css("summary")).await?.click().await?;
        ensure!(
            details.prop("open").await?.as_deref() == Some("true"),
            "details did not open"
        );
    }

    browser.console_is_clean().await?;
    browser.close("[no-js]").await
}

/// `count` messages about spirometry, each its own thread, a day apart.
fn spirometry_mbox(count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        let day = 1 + i % 28;
        let month = ["Jan", "Feb", "Mar"][i / 28];
        out.push_str(&format!(
            "From c{i}@example.org Mon Jan  1 00:00:00 2024\n\
             From: Clinician {i} <c{i}@example.org>\n\
             To: resp@lists.example.org\n\
             Subject: Spirometry question {i}\n\
             Date: {day:02} {month} 2024 09:{i:02}:00 +0000\n\
             Message-ID: <spiro-{i}@example.org>\n\
             Content-Type: text/plain; charset=utf-8\n\
             \n\
             Case {i}: how do you read this spirometry result? The FEV1/FVC ratio is borderline\n\
             and we would value a second opinion on the spirometry before referral.\n\
             \n"
        ));
    }
    out
}

/// Chromium and chromedriver from the PATH; a clear failure when either is missing.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Tools {
    fn find() -> Tools {
        let which = |name: &str| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.is_file())
            })
        };
        match (which("chromium"), which("chromedriver")) {
            (Some(chromium), Some(chromedriver)) => Tools {
                chromium,
                chromedriver,
            },
            _ => panic!(
                "chromium or chromedriver is not on the PATH: install chromium and chromium-driver \
                 (scripts/test does)"
            ),
        }
    }
}

/// A loopback port nobody listens on just now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A child process in its own process group, stopped with everything it started (Chromium's
/// many processes under chromedriver) when dropped, also when a test fails half-way.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Result<Proc> {
        let out = File::create(log)?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Proc {
            name,
            child,
            log: log.to_owned(),
        })
    }

    /// The end of what the process printed, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(3000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(0);
        log[start..].to_owned()
    }

    /// Polls `url` until it answers 200; fails at once when the process has died.
    async fn wait_until_answers(&mut self, url: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok((200, _)) = http(Method::GET, url, None).await {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}):\n{}", self.name, self.log_tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer at {url} within {PATIENCE:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: the demo removes its temporary database, Chromium exits cleanly.
        self.signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the group (the leader, or a Chromium helper) goes now.
        self.signal_group("-KILL");
        let _ = self.child.wait();
    }
}

/// `listbridge demo` on a free port, once it answers; its base URL.
async fn start_demo(dir: &Path) -> Result<(Proc, String)> {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_listbridge"));
    cmd.args(["demo", "--listen", &listen]);
    let mut demo = Proc::spawn("listbridge demo", cmd, &dir.join("demo.log"))?;
    let base = format!("http://{listen}");
    demo.wait_until_answers(&format!("{base}/healthz")).await?;
    Ok((demo, base))
}

/// chromedriver on a free port; it starts a Chromium per session.
struct Driver {
    _proc: Proc,
    url: String,
    dir: PathBuf,
}

impl Driver {
    async fn start(tools: &Tools, dir: &Path) -> Result<Driver> {
        let port = free_port();
        let mut cmd = Command::new(&tools.chromedriver);
        cmd.arg(format!("--port={port}"));
        let mut proc = Proc::spawn("chromedriver", cmd, &dir.join("chromedriver.log"))?;
        let url = format!("http://127.0.0.1:{port}");
        proc.wait_until_answers(&format!("{url}/status")).await?;
        Ok(Driver {
            _proc: proc,
            url,
            dir: dir.to_owned(),
        })
    }
}

/// chromedriver and one Chromium session under it, in a fresh folder that goes with them: what
/// a test drives, as a [`Browser`].
struct Chromium {
    browser: Browser,
    _driver: Driver,
    work: tempfile::TempDir,
    started: Instant,
}

impl Chromium {
    /// With JavaScript on or off.
    async fn start(javascript: bool) -> Result<Chromium> {
        let started = Instant::now();
        let tools = Tools::find();
        let work = tempfile::tempdir()?;
        let driver = Driver::start(&tools, work.path()).await?;
        let browser = Browser::open(&tools, &driver, javascript).await?;
        Ok(Chromium {
            browser,
            _driver: driver,
            work,
            started,
        })
    }

    /// The session's folder, for the test's own files.
    fn dir(&self) -> &Path {
        self.work.path()
    }

    /// Says how long the test named `label` took since the session started.
    fn took(&self, label: &str, what: &str) {
        eprintln!("{label} {what} {:?}", self.started.elapsed());
    }

    /// Closes the session at the end of the test named `label`.
    async fn close(self, label: &str) -> Result<()> {
        self.took(label, "done in");
        self.browser.close().await;
        Ok(())
    }

    /// Closes the session; an error if its console showed errors or `axe` found violations.
    async fn finish(self, axe: &Axe) -> Result<()> {
        let errors = self.browser.console_errors().await?;
        self.browser.close().await;
        ensure!(
            errors.is_empty(),
            "errors in the browser console:\n{}",
            errors.join("\n")
        );
        ensure!(
            axe.found.is_empty(),
            "axe-core found:\n{}",
            axe.found.join("\n")
        );
        Ok(())
    }
}

impl std::ops::Deref for Chromium {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

/// Where the page is: the parts of the current URL the tests look at.
struct Here {
    full: String,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

/// One Chromium session.
struct Browser {
    client: Client,
    driver: String,
    session: String,
}

impl Browser {
    async fn open(tools: &Tools, driver: &Driver, javascript: bool) -> Result<Browser> {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        // A fresh profile per session, inside the test's folder so it goes when the test ends
        // (after chromedriver and its Chromium are stopped).
        let profile = driver.dir.join(if javascript {
            "profile"
        } else {
            "profile-nojs"
        });
        args.push(format!("--user-data-dir={}", profile.display()));
        if !javascript {
            args.push("--blink-settings=scriptEnabled=false".to_owned());
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": tools.chromium, "args": args },
            // The console, CSP violations included, read back through chromedriver's log.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        // fantoccini is built without TLS: a plain HTTP connector reaches the local driver.
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .context("chromedriver could not start a Chromium session")?;
        let session = client
            .session_id()
            .await?
            .context("no WebDriver session id")?;
        Ok(Browser {
            client,
            driver: driver.url.clone(),
            session,
        })
    }

    /// Opens a one-time sign-in link and presses its button.
    async fn sign_in_with_link(&self, link: &str) -> Result<()> {
        self.visit(link).await?;
        self.click_button("Sign in").await?;
        self.wait_for(|h| !h.path.starts_with("/signin")).await
    }

    /// Opens a page by its full URL.
    async fn visit(&self, url: &str) -> Result<()> {
        Ok(self.client.goto(url).await?)
    }

    /// Opens a page of the forum at `base`.
    async fn go(&self, base: &str, path: &str) -> Result<()> {
        self.visit(&format!("{base}{path}")).await
    }

    /// Loads the page again.
    async fn refresh(&self) -> Result<()> {
        Ok(self.client.refresh().await?)
    }

    async fn title(&self) -> Result<String> {
        Ok(self.client.title().await?)
    }

    /// The page's HTML as the browser has it now.
    async fn source(&self) -> Result<String> {
        Ok(self.client.source().await?)
    }

    /// The element that has focus.
    async fn focused(&self) -> Result<Element> {
        Ok(self.client.active_element().await?)
    }

    /// The first element a CSS selector matches; an error when there is none.
    async fn find(&self, css: &str) -> Result<Element> {
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("no {css} on the page"))
    }

    /// Every element a CSS selector matches (none is not an error).
    async fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::Css(css)).await?)
    }

    /// Whether a CSS selector matches anything.
    async fn has(&self, css: &str) -> Result<bool> {
        Ok(!self.find_all(css).await?.is_empty())
    }

    /// The element with this id.
    async fn find_id(&self, id: &str) -> Result<Element> {
        self.client
            .find(Locator::Id(id))
            .await
            .with_context(|| format!("no #{id} on the page"))
    }

    /// The first element an XPath expression matches.
    async fn find_xpath(&self, xpath: &str) -> Result<Element> {
        self.client
            .find(Locator::XPath(xpath))
            .await
            .with_context(|| format!("nothing on the page matches {xpath}"))
    }

    /// Clicks the first element a CSS selector matches.
    async fn click(&self, css: &str) -> Result<()> {
        Ok(self.find(css).await?.click().await?)
    }

    /// Clicks the first element an XPath expression matches.
    async fn click_xpath(&self, xpath: &str) -> Result<()> {
        Ok(self.find_xpath(xpath).await?.click().await?)
    }

    /// Clicks the link with this text.
    async fn click_link(&self, text: &str) -> Result<()> {
        self.client
            .find(Locator::LinkText(text))
            .await
            .with_context(|| format!("no link {text:?} on the page"))?
            .click()
            .await?;
        Ok(())
    }

    /// Clicks the first button of the page's main content whose text contains `label`.
    async fn click_button(&self, label: &str) -> Result<()> {
        self.click_xpath(&format!("//main//button[contains(., '{label}')]"))
            .await
    }

    /// Types `text` into the field with this id.
    async fn fill(&self, id: &str, text: &str) -> Result<()> {
        Ok(self.find_id(id).await?.send_keys(text).await?)
    }

    /// The visible text of the first element a CSS selector matches.
    async fn text_of(&self, css: &str) -> Result<String> {
        Ok(self.find(css).await?.text().await?)
    }

    /// An attribute of the first element a CSS selector matches.
    async fn attr_of(&self, css: &str, name: &str) -> Result<Option<String>> {
        Ok(self.find(css).await?.attr(name).await?)
    }

    async fn here(&self) -> Result<Here> {
        let url = self.client.current_url().await?;
        Ok(Here {
            full: url.to_string(),
            path: url.path().to_owned(),
            query: url.query().map(str::to_owned),
            fragment: url.fragment().map(str::to_owned),
        })
    }

    /// Waits until the current URL satisfies `ready` (a click's navigation may still be on
    /// its way).
    async fn wait_for(&self, ready: impl Fn(&Here) -> bool) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let here = self.here().await?;
            if ready(&here) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("still at {} after {PATIENCE:?}", here.full);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the first element a CSS selector matches and waits until the page's path starts
    /// with `prefix`.
    async fn follow(&self, css: &str, prefix: &str) -> Result<()> {
        self.click(css).await?;
        self.wait_for_path(prefix).await
    }

    async fn wait_for_path(&self, prefix: &str) -> Result<()> {
        self.wait_for(|here| here.path.starts_with(prefix)).await
    }

    async fn wait_for_text(&self, css: &str, text: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && element.text().await.is_ok_and(|t| t == text)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{css} does not say {text:?} at {}", self.here().await?.full);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A key pressed and released on whatever has focus.
    async fn press(&self, key: Key) -> Result<()> {
        let keys = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        Ok(self.client.perform_actions(keys).await?)
    }

    /// The post the URL points at: the fragment names it and it is the CSS :target. Returns
    /// the fragment.
    async fn target(&self) -> Result<String> {
        let here = self.here().await?;
        let fragment = here
            .fragment
            .with_context(|| format!("no #fragment in {}", here.full))?;
        ensure!(
            fragment.starts_with("m-"),
            "{} does not point at a post",
            here.full
        );
        let target = self
            .client
            .find(Locator::Css(":target"))
            .await
            .with_context(|| format!("nothing is the :target at {}", here.full))?;
        let id = target.attr("id").await?;
        ensure!(
            id.as_deref() == Some(fragment.as_str()),
            "the :target is {id:?}, not #{fragment}"
        );
        Ok(fragment)
    }

    async fn js(&self, script: &str) -> Result<Value> {
        Ok(self.client.execute(script, Vec::new()).await?)
    }

    /// A raw Chrome DevTools command, through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        let url = format!("{}/session/{}/goog/cdp/execute", self.driver, self.session);
        let body = json!({ "cmd": cmd, "params": params });
        let (status, answer) = http(Method::POST, &url, Some(&body)).await?;
        let mut answer: Value = serde_json::from_slice(&answer)?;
        ensure!(status == 200, "{cmd} failed: {answer}");
        Ok(answer["value"].take())
    }

    /// The whole page, beyond the window, as target/screenshots/NAME.png.
    async fn shoot(&self, name: &str) -> Result<()> {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let (width, height) = (size["width"].as_f64(), size["height"].as_f64());
        let (Some(width), Some(height)) = (width, height) else {
            bail!("no page size in {metrics}");
        };
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height.min(8000.0), "scale": 1 },
                }),
            )
            .await?;
        let data = shot["data"].as_str().context("no screenshot data")?;
        save_screenshot(
            name,
            &base64::engine::general_purpose::STANDARD.decode(data)?,
        )
    }

    /// What the window shows, as target/screenshots/NAME.png.
    async fn shoot_viewport(&self, name: &str) -> Result<()> {
        save_screenshot(name, &self.client.screenshot().await?)
    }

    /// The console's errors since the last call (they are printed, warnings too).
    async fn console_errors(&self) -> Result<Vec<String>> {
        let url = format!("{}/session/{}/se/log", self.driver, self.session);
        let (status, answer) =
            http(Method::POST, &url, Some(&json!({ "type": "browser" }))).await?;
        let answer: Value = serde_json::from_slice(&answer)?;
        ensure!(status == 200, "reading the browser log failed: {answer}");
        let entries = answer["value"].as_array().cloned().unwrap_or_default();
        let mut errors = Vec::new();
        for entry in entries {
            let line = format!(
                "{} {}: {}",
                entry["level"], entry["source"], entry["message"]
            );
            eprintln!("console: {line}");
            if entry["level"] == "SEVERE" {
                errors.push(line);
            }
        }
        Ok(errors)
    }

    /// An error when the console showed errors since the last look.
    async fn console_is_clean(&self) -> Result<()> {
        let errors = self.console_errors().await?;
        ensure!(
            errors.is_empty(),
            "errors in the browser console:\n{}",
            errors.join("\n")
        );
        Ok(())
    }

    /// Searches from the home page of the forum at `base`, typing `query` into the search box
    /// and pressing Enter: the results' count line.
    async fn search(&self, base: &str, query: &str) -> Result<String> {
        self.go(base, "/").await?;
        self.fill("q", query).await?;
        self.press(Key::Enter).await?;
        self.wait_for_path("/search").await?;
        self.text_of("p.count").await
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn save_screenshot(name: &str, png: &[u8]) -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("screenshot: {}", path.display());
    Ok(())
}

/// One HTTP/1.1 request over plain TCP; the status and body.
async fn http(method: Method, url: &str, body: Option<&Value>) -> Result<(u16, Vec<u8>)> {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<VecDeque<u8>>>();
    let bytes = body
        .map(serde_json::to_vec)
        .transpose()?
        .unwrap_or_default();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(VecDeque::from(bytes)))?;
    let response = tokio::time::timeout(PATIENCE, client.request(request))
        .await
        .map_err(|_| anyhow!("{url} did not answer within {PATIENCE:?}"))??;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

/// A GET with the browser's cookies (what a download would send): status, type and body.
#[cfg(feature = "rig")]
async fn get_with_cookies(url: &str, cookies: &str) -> Result<(u16, String, Vec<u8>)> {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<VecDeque<u8>>>();
    let request = Request::builder()
        .uri(url)
        .header("cookie", cookies)
        .body(Full::new(VecDeque::new()))?;
    let response = tokio::time::timeout(PATIENCE, client.request(request))
        .await
        .map_err(|_| anyhow!("{url} did not answer within {PATIENCE:?}"))??;
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, kind, body))
}

/// axe-core (from the npm registry: `scripts/test` installs it into `target/axe`) and the
/// serious or critical violations it found so far.
struct Axe {
    source: String,
    found: Vec<String>,
}

impl Axe {
    fn load() -> Result<Axe> {
        let path = std::env::var_os("LISTBRIDGE_AXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("target/axe/node_modules/axe-core/axe.min.js")
            });
        let source = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "axe-core is missing at {}: run `npm install --prefix target/axe axe-core@4` (scripts/test does)",
                path.display()
            )
        })?;
        Ok(Axe {
            source,
            found: Vec::new(),
        })
    }

    /// Checks the page shown, its violations named by `label`.
    async fn check(&mut self, browser: &Browser, label: &str) -> Result<()> {
        let found = serious_violations(browser, &self.source, label).await?;
        self.found.extend(found);
        Ok(())
    }
}

#[tokio::test]
async fn axe_finds_no_serious_accessibility_violation() -> Result<()> {
    let mut axe = Axe::load()?;
    let browser = Chromium::start(true).await?;
    let (_demo, base) = start_demo(browser.dir()).await?;
    // Home, a thread, search results and an author's page (the profile of someone who writes).
    for path in [
        "/",
        "/t/1",
        "/t/1?view=nested",
        "/search?q=inhaler",
        "/a/amira.khan@example.org",
    ] {
        browser.go(&base, path).await?;
        axe.check(&browser, path).await?;
    }
    // The check is not blind: an image without a text alternative is a critical violation.
    browser
        .js("const i = document.createElement('img'); i.src = '/favicon.ico'; document.body.appendChild(i); return true;")
        .await?;
    let planted: Vec<String> = serde_json::from_value(
        browser
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(
                   r.violations.filter(v => v.impact === 'critical').map(v => v.id)));",
                Vec::new(),
            )
            .await?,
    )?;
    ensure!(
        planted.iter().any(|v| v == "image-alt"),
        "axe missed a planted violation: {planted:?}"
    );
    browser.close("[axe]").await?;
    ensure!(
        axe.found.is_empty(),
        "axe-core found:\n{}",
        axe.found.join("\n")
    );
    Ok(())
}

/// The moderators' tools in Chromium: a forum (`listbridge serve`, no mail needed) over the
/// archive with threading mistakes, an admin signed in with the link `admin create` prints. The
/// thread page with every flag form and Moderate menu open, the moderation page with a flagged
/// post, and the thread a split makes pass axe-core; flagging and splitting work by clicking.
#[tokio::test]
async fn moderators_tools_work_by_clicking_and_pass_axe() -> Result<()> {
    let mut axe = Axe::load()?;
    let browser = Chromium::start(true).await?;
    let work = browser.dir();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let config = work.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[web]\nlisten = \"{listen}\"\nbase_url = \"{base}\"\n\
             [[lists]]\nname = \"snug\"\nsubject_tag = \"[SNUG]\"\n"
        ),
    )?;
    let db = work.join("forum.db");
    let cli = |args: &[&str]| -> Result<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_listbridge"))
            .arg("--db")
            .arg(&db)
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()?;
        ensure!(
            out.status.success(),
            "listbridge {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    };
    let mbox = common::fixtures_dir().join("moderation/mistakes.mbox");
    cli(&[
        "import",
        mbox.to_str().context("a UTF-8 path")?,
        "--list",
        "snug",
    ])?;
    let printed = cli(&[
        "admin",
        "create",
        "mo@example.org",
        "--name",
        "Mo Moderator",
    ])?;
    let link = printed
        .split_whitespace()
        .find(|w| w.contains("/signin/"))
        .context("no link printed")?
        .to_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_listbridge"));
    cmd.arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .arg("serve");
    let mut serve = Proc::spawn("listbridge serve", cmd, &work.join("serve.log"))?;
    serve.wait_until_answers(&format!("{base}/healthz")).await?;
    browser.sign_in_with_link(&link).await?;

    // The thread with the hijacked conversation (the archive's first), every menu open.
    browser.go(&base, "/t/1").await?;
    browser
        .js("document.querySelectorAll('details.tools').forEach(d => d.open = true); return true;")
        .await?;
    axe.check(&browser, "thread with moderator tools").await?;
    browser.shoot("moderator-thread").await?;

    // Flag a post: open its menu, choose a reason by its label, send.
    browser
        .js("document.querySelectorAll('details.tools').forEach(d => d.open = false); return true;")
        .await?;
    let post = "spacer-3@snug.example";
    let flag_form = format!("//form[@action='/flag'][input[@value='{post}']]");
    let flag = browser.find_xpath(&flag_form).await?;
    browser
        .click_xpath(&format!("{flag_form}/ancestor::details/summary"))
        .await?;
    flag.find(Locator::XPath(
        ".//label[contains(., 'identifies a patient')]",
    ))
    .await?
    .click()
    .await?;
    flag.find(Locator::Css("textarea"))
        .await?
        .send_keys("Names a patient")
        .await?;
    flag.find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    browser.wait_for_text("main h1", "Thank you").await?;

    // The moderation page shows it, and passes.
    browser.go(&base, "/admin/held").await?;
    let page = browser.source().await?;
    ensure!(
        page.contains("Names a patient") && page.contains("Mrs Quenby"),
        "the flagged post is not on the moderation page"
    );
    axe.check(&browser, "/admin/held").await?;
    browser.shoot("moderation-page").await?;

    // Split the thread at the hijacking post by clicking; the new thread passes too.
    browser.go(&base, "/t/1").await?;
    let split = "flu-1@snug.example";
    let split_form = format!("//form[contains(@action, '/split')][input[@value='{split}']]");
    browser
        .click_xpath(&format!("{split_form}/ancestor::details/summary"))
        .await?;
    browser.click_xpath(&format!("{split_form}/button")).await?;
    browser
        .wait_for(|h| h.path.starts_with("/t/") && h.path != "/t/1")
        .await?;
    browser
        .wait_for_text("main h1", "Flu clinic rotas for October")
        .await?;
    axe.check(&browser, "split thread").await?;
    drop(serve);
    browser.finish(&axe).await
}

/// The serious and critical accessibility violations axe-core finds on the page shown.
async fn serious_violations(browser: &Browser, axe: &str, label: &str) -> Result<Vec<String>> {
    // WebDriver runs this outside the page's CSP, which would (rightly) refuse it.
    browser.js(&format!("{axe}\n;return true;")).await?;
    let violations = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' +
                      v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))));",
            Vec::new(),
        )
        .await?;
    let list: Vec<String> = serde_json::from_value(violations)?;
    eprintln!("axe {label}: {} serious or critical", list.len());
    Ok(list.into_iter().map(|v| format!("{label}: {v}")).collect())
}

/// A member's way in, through the real mail servers: sign up with the link mailed through
/// Postfix (read back from Dovecot), fill in the profile, reply with a quoted passage, and
/// watch the reply's state turn to delivered when the list's copy comes back. The new pages
/// pass axe-core too.
#[cfg(feature = "rig")]
#[tokio::test(flavor = "multi_thread")]
async fn a_member_signs_up_by_mail_replies_and_sees_it_delivered() -> Result<()> {
    use common::forum::Forum;
    let mut axe = Axe::load()?;
    let forum = tokio::task::spawn_blocking(|| Forum::start("mirror")).await?;
    let (thread, key, _) = forum.seed_thread("[SNUG] Spirometry training").await;
    let browser = Chromium::start(true).await?;
    let base = forum.base.clone();

    // Sign up: address and name, then the link from the mail.
    browser.go(&base, "/signin").await?;
    axe.check(&browser, "/signin").await?;
    browser.fill("email", "alice@lists.test").await?;
    browser.fill("name", "Alice Adams").await?;
    browser.click_button("Email me a sign-in link").await?;
    browser.wait_for_text("main h1", "Check your mail").await?;
    browser.shoot("member-check-mail").await?;
    let rig = &forum.rig;
    rig.wait_for_inbox_count(&rig.alice, 1, common::forum::PATIENCE)
        .await;
    let mails = rig.fetch_inbox(&rig.alice).await;
    let text = mails
        .iter()
        .filter_map(|m| mail_parser::MessageParser::default().parse(m))
        .filter_map(|m| m.body_text(0).map(|t| t.into_owned()))
        .find(|t| t.contains("/signin/"))
        .context("no sign-in link in Alice's mail")?;
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("/signin/"))
        .context("no link in the mail's text")?
        .to_owned();
    browser.visit(&link).await?;
    browser.click_button("Sign in").await?;
    browser.wait_for_path("/account").await?;
    axe.check(&browser, "/account").await?;

    // The profile.
    let name = browser.find_id("display_name").await?;
    ensure!(
        name.prop("value").await?.as_deref() == Some("Alice Adams"),
        "the name given at sign-up"
    );
    browser.fill("job_title", "Practice Manager").await?;
    browser
        .fill("organisation", "Hammersmith Medical Centre")
        .await?;
    browser.fill("bio", "Runs the asthma clinic.").await?;
    browser.click_button("Save profile").await?;
    browser
        .wait_for(|h| {
            h.query
                .as_deref()
                .is_some_and(|q| q.contains("saved=profile"))
        })
        .await?;
    browser.shoot("member-account").await?;
    browser.follow("nav.account a", "/u/").await?;
    let profile = browser.text_of("main").await?;
    ensure!(
        profile.contains("Practice Manager, Hammersmith Medical Centre"),
        "profile: {profile}"
    );
    // Her mail to the list before she joined is hers now.
    ensure!(
        profile.contains("Spirometry training"),
        "earlier post missing from the profile: {profile}"
    );
    browser.shoot("member-profile").await?;

    // Reply, quoting a passage of the post.
    browser.go(&base, &format!("/t/{thread}")).await?;
    browser
        .follow(
            &format!("#m-{key} .actions a"),
            &format!("/t/{thread}/reply"),
        )
        .await?;
    axe.check(&browser, "reply form").await?;
    browser
        .js("const p = document.getElementById('parent-text'); const r = document.createRange(); r.selectNodeContents(p); const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); return true;")
        .await?;
    browser.click("#quote-selection").await?;
    let textarea = browser.find_id("text").await?;
    textarea
        .send_keys("We book **two** sessions a year.")
        .await?;
    let draft = textarea.prop("value").await?.unwrap_or_default();
    ensure!(
        draft.starts_with("Alice Adams wrote:\n> Which spacer"),
        "quoted draft: {draft:?}"
    );
    browser.shoot("member-reply").await?;
    browser
        .follow("button[value=post]", &format!("/t/{thread}"))
        .await?;

    // Its state, as the author sees it, until the list's copy is back.
    let deadline = Instant::now() + common::forum::PATIENCE;
    loop {
        let states = browser.find_all("span.state").await?;
        let mut delivered = false;
        for s in states {
            if s.attr("data-state").await?.as_deref() == Some("delivered") {
                delivered = true;
            }
        }
        if delivered {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the reply never showed as delivered:\n{}",
            forum.daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser.refresh().await?;
    }
    let page = browser.text_of("main").await?;
    ensure!(
        page.matches("We book two sessions a year.").count() == 1,
        "shown once: {page}"
    );
    browser.shoot("member-delivered").await?;

    // An organiser, made on the command line, reads the engagement page in the same browser.
    let (db, config) = (forum.db.clone(), forum.config.clone());
    let link = tokio::task::spawn_blocking(move || {
        common::forum::admin_link(&db, &config, "olive@lists.test", "Olive Organiser")
    })
    .await?;
    browser.sign_in_with_link(&link).await?;
    browser.go(&base, "/admin/engagement").await?;
    browser.wait_for_text("main h1", "Engagement").await?;
    let charts = browser.find_all("main svg[role=img] rect.bar").await?;
    ensure!(
        charts.len() >= 30 + 12,
        "the day and week charts draw {} bars",
        charts.len()
    );
    let posts: u64 = browser.text_of("dl.figures dd").await?.trim().parse()?;
    // The reply is today's; the seed mail carries a fixed date and counts while it is within
    // the last 30 days.
    let seeded = common::forum::store(&forum.db)
        .thread_posts(listbridge::store::ThreadId(thread))?
        .first()
        .and_then(|p| p.headers.date)
        .context("the seed post has a date")?;
    let expected = if std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        - seeded
        < 29 * 86_400
    {
        2
    } else {
        1
    };
    ensure!(
        posts >= expected,
        "the engagement page counts {posts} posts in the last 30 days"
    );
    browser.shoot("engagement").await?;
    axe.check(&browser, "/admin/engagement").await?;
    let href = browser
        .attr_of("a[href$='engagement.csv']", "href")
        .await?
        .context("the CSV link has an address")?;
    let cookies = browser
        .client
        .get_all_cookies()
        .await?
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ");
    let (status, kind, csv) = get_with_cookies(&format!("{base}{href}"), &cookies).await?;
    ensure!(
        status == 200 && kind == "text/csv; charset=utf-8",
        "{status} {kind}"
    );
    let csv = String::from_utf8(csv)?;
    ensure!(
        csv.starts_with("figure,key,value,note\r\nposts_per_day,"),
        "the CSV: {csv}"
    );
    browser.finish(&axe).await
}

/// An organiser announces an event in the browser with one place, takes it, and a member who
/// registers after her joins the waiting list; when she cancels, the member moves up, and her
/// attendee list says so. The event pages pass axe-core.
#[cfg(feature = "rig")]
#[tokio::test(flavor = "multi_thread")]
async fn an_event_is_announced_and_its_waiting_list_moves_up() -> Result<()> {
    use common::forum::Forum;
    let mut axe = Axe::load()?;
    let forum = tokio::task::spawn_blocking(|| Forum::start("mirror")).await?;
    let (db, config) = (forum.db.clone(), forum.config.clone());
    let link = tokio::task::spawn_blocking(move || {
        common::forum::admin_link(&db, &config, "olive@lists.test", "Olive Organiser")
    })
    .await?;
    let browser = Chromium::start(true).await?;
    let base = forum.base.clone();
    browser.sign_in_with_link(&link).await?;

    // Announce: from the events page, through the form.
    browser.go(&base, "/events").await?;
    browser.click_link("Announce an event").await?;
    browser.wait_for_path("/events/new").await?;
    axe.check(&browser, "/events/new").await?;
    for (id, text) in [
        ("title", "Inhaler technique workshop"),
        (
            "description",
            "A hands-on hour on **spacers** and dry-powder inhalers.",
        ),
        ("place", "Room 2, Leeds General Infirmary"),
        ("capacity", "1"),
    ] {
        browser.fill(id, text).await?;
    }
    // Typing into a datetime-local field goes segment by segment in each locale; the value
    // is set as the browser's own picker would.
    browser
        .js("document.getElementById('starts').value = '2027-05-20T14:00'; document.getElementById('ends').value = '2027-05-20T15:00'; return true;")
        .await?;
    browser.shoot("event-form").await?;
    // Leaving the last field first, as a person does: Chromium's suggestion list for it
    // would take the first click.
    browser.press(Key::Tab).await?;
    browser.click_button("Announce").await?;
    if let Err(e) = browser
        .wait_for(|h| h.path.starts_with("/events/") && h.path != "/events/new")
        .await
    {
        let main = browser.text_of("main").await?;
        bail!("{e}; the page says: {main}");
    }
    let event_path = browser.here().await?.path;
    browser
        .wait_for_text("main h1", "Inhaler technique workshop")
        .await?;
    let facts = browser.text_of("dl.facts").await?;
    ensure!(
        facts.contains("Thursday 20 May 2027, 14:00–15:00 (BST)"),
        "facts: {facts}"
    );

    // She takes the one place.
    browser.click_button("Register").await?;
    browser
        .wait_for_text("#my-place", "You have a place.")
        .await?;
    axe.check(&browser, "event page").await?;

    // Bob, a member, registers after her: the waiting list.
    let (db, roster) = (forum.db.clone(), forum.dir.path().join("roster.txt"));
    let config = forum.config.clone();
    let (bob, token, csrf) = tokio::task::spawn_blocking(move || {
        std::fs::write(&roster, "Bob Baker <bob@lists.test>\n").unwrap();
        common::forum::cli(
            &db,
            &config,
            &["members", "import", roster.to_str().unwrap()],
        );
        let s = common::forum::store(&db);
        let bob = s.user_by_email("bob@lists.test").unwrap().unwrap();
        let (token, csrf) = (
            listbridge::tokens::new_token(),
            listbridge::tokens::new_token(),
        );
        s.create_session(
            &listbridge::tokens::hash(&token),
            bob,
            &csrf,
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
        (bob, token, csrf)
    })
    .await?;
    let mut bobs = common::web::Web::new(&base);
    bobs.set_cookie("lb_session", &token);
    let answer = bobs
        .post(&format!("{event_path}/register"), &[("csrf", &csrf)])
        .await;
    ensure!(
        answer.status == 200 && answer.body.contains("number 1 on the waiting list"),
        "Bob's registration: {} {}",
        answer.status,
        answer.body
    );
    browser.refresh().await?;
    browser
        .wait_for_text(
            "#places",
            "Full · 1 on the waiting list (1 confirmed, 1 waiting)",
        )
        .await?;
    browser.shoot("event-full").await?;

    // She cancels: Bob moves up, and her attendee list shows it.
    browser.click_button("Cancel my place").await?;
    browser
        .wait_for_text("#my-place", "You have no place yet.")
        .await?;
    browser
        .wait_for_text("#places", "Full · waiting list open (1 confirmed)")
        .await?;
    browser.click_link("Attendees").await?;
    browser
        .wait_for_path(&format!("{event_path}/attendees"))
        .await?;
    axe.check(&browser, "attendees").await?;
    let rows = browser.text_of("table.data tbody").await?;
    let lines: Vec<&str> = rows.lines().collect();
    ensure!(
        lines.len() == 2
            && lines[0].starts_with("Bob Baker")
            && lines[0].contains("Confirmed")
            && lines[1].starts_with("Olive Organiser")
            && lines[1].contains("Cancelled"),
        "attendees: {rows}"
    );
    browser.shoot("event-attendees").await?;
    let page = bobs.get(&event_path).await;
    ensure!(
        page.body.contains("You have a place."),
        "Bob's page: {}",
        page.body
    );
    let place = tokio::task::spawn_blocking({
        let db = forum.db.clone();
        let id: i64 = event_path.trim_start_matches("/events/").parse()?;
        move || common::forum::store(&db).place(listbridge::store::EventId(id), bob)
    })
    .await??;
    ensure!(
        place == Some(listbridge::store::Place::Confirmed),
        "{place:?}"
    );

    browser.finish(&axe).await
}
