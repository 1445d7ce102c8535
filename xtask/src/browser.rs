//! The browser side: `cargo xtask build --pdf` (Chromium prints each language's print page) and
//! `cargo xtask browser-test` (tests/browser/site.test.mjs drives Chromium over the built site). Both use
//! Debian's Chromium through playwright-core (npm, pinned in package.json); nothing downloads a browser.
//! The browser suite also covers README's `mdbook serve`, one language at a time (`mdbook_serve`).

use crate::tools::Tools;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Installs what the browser needs, by package name, when it is missing: Chromium, a CJK font and
/// poppler-utils (pdffonts/pdftotext, for the PDF checks) with apt-get; playwright-core with `npm ci`.
/// Returns the Chromium executable.
pub fn prerequisites() -> Result<PathBuf> {
    let chromium = || {
        std::env::var_os("KMEM_CHROMIUM")
            .map(PathBuf::from)
            .into_iter()
            .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].map(PathBuf::from))
            .find(|p| p.exists())
    };
    let cjk_font =
        || Command::new("fc-list").args([":lang=zh-cn", "family"]).output().is_ok_and(|o| !o.stdout.is_empty());
    let mut need = Vec::new();
    if chromium().is_none() {
        need.push("chromium");
    }
    if !cjk_font() {
        need.push("fonts-noto-cjk");
    }
    if !has("pdffonts") {
        need.push("poppler-utils");
    }
    if !need.is_empty() {
        eprintln!("==> installing {} (apt-get)", need.join(" "));
        let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
        for args in [vec!["apt-get", "update", "-qq"], [vec!["apt-get", "install", "-y", "-qq"], need.clone()].concat()]
        {
            let all = [sudo, &args[..]].concat();
            let status = Command::new(all[0]).args(&all[1..]).status().context("running apt-get")?;
            if !status.success() {
                bail!("could not install {} (apt-get)", need.join(" "));
            }
        }
    }
    crate::site::npm_ci()?;
    chromium().context("no Chromium at /usr/bin/chromium (set KMEM_CHROMIUM to another Chromium)")
}

fn has(tool: &str) -> bool {
    Command::new(tool).arg("-v").output().is_ok()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
}

fn node(chromium: &Path) -> Command {
    let mut cmd = Command::new("node");
    cmd.current_dir(crate::root()).env("KMEM_CHROMIUM", chromium);
    cmd
}

/// Prints `<site>/print.html` and `<site>/zh-CN/print.html` to `kmem-book.pdf` beside them.
pub fn pdf(site: &Path) -> Result<()> {
    let chromium = prerequisites()?;
    eprintln!("==> printing the PDFs (Chromium)");
    let status = node(&chromium)
        .arg("tests/browser/pdf.mjs")
        .arg(site)
        .status()
        .context("running node: install Node.js (apt-get install nodejs npm)")?;
    if !status.success() {
        bail!("printing the PDFs failed");
    }
    Ok(())
}

/// Runs the browser suite over `site`; artifacts (screenshots) go to `<target>/browser/`.
pub fn test(site: &Path) -> Result<()> {
    let chromium = prerequisites()?;
    let artifacts = crate::tools::target_dir().join("browser");
    eprintln!("==> browser suite over {} (screenshots in {})", site.display(), artifacts.display());
    let started = std::time::Instant::now();
    let status = node(&chromium)
        .args(["--test", "--test-reporter=spec", "tests/browser/site.test.mjs"])
        .env("KMEM_SITE", site)
        .env("KMEM_ARTIFACTS", &artifacts)
        .status()
        .context("running node: install Node.js (apt-get install nodejs npm)")?;
    eprintln!("==> browser suite took {:.0?}", started.elapsed());
    if !status.success() {
        bail!("the browser suite failed");
    }
    Ok(())
}

/// `mdbook serve` as README runs it, for each language (the Chinese edition with
/// `MDBOOK_BOOK__LANGUAGE=zh-CN`), on a free port with the pinned tools on PATH; then
/// tests/browser/mdbook-serve.test.mjs over what it serves (pages, diagrams, mdBook's search).
pub fn mdbook_serve(tools: &Tools) -> Result<()> {
    let chromium = prerequisites()?;
    for lang in std::iter::once("en").chain(crate::site::TRANSLATIONS.iter().copied()) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port on 127.0.0.1")?
            .port();
        let dest = crate::tools::target_dir().join("browser").join(format!("mdbook-serve-{lang}"));
        let mut cmd = tools.command("mdbook");
        cmd.current_dir(crate::root()).args(["serve", "-n", "127.0.0.1", "-p", &port.to_string(), "-d"]).arg(&dest);
        if lang != "en" {
            cmd.env("MDBOOK_BOOK__LANGUAGE", lang);
        }
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::create_dir_all(&dest)?;
        let log = dest.with_extension("log");
        eprintln!("==> mdbook serve ({lang}) on 127.0.0.1:{port} (its log: {})", log.display());
        let output = std::fs::File::create(&log)?;
        cmd.stdout(output.try_clone()?).stderr(output);
        let mut server = Served(cmd.spawn().context("running mdbook serve")?);
        let url = format!("http://127.0.0.1:{port}/");
        server.wait_until_up(port, &log, Duration::from_secs(180))?;
        let status = node(&chromium)
            .args(["--test", "--test-reporter=spec", "tests/browser/mdbook-serve.test.mjs"])
            .env("KMEM_SERVED", &url)
            .env("KMEM_LANG", lang)
            .status()
            .context("running node: install Node.js (apt-get install nodejs npm)")?;
        drop(server);
        if !status.success() {
            bail!("the browser suite failed on mdbook serve ({lang})");
        }
    }
    Ok(())
}

/// The `mdbook serve` child, ended (by its own handle) when dropped.
struct Served(Child);

impl Served {
    /// Waits until the server answers (mdbook serve builds the book before it listens).
    fn wait_until_up(&mut self, port: u16, log: &Path, limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait()? {
                bail!("mdbook serve exited ({status}) before serving; see {}", log.display());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!("mdbook serve did not answer on 127.0.0.1:{port} within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
