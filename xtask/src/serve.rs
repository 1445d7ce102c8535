//! `cargo xtask serve`: builds the bilingual site into `book/`, serves it on 127.0.0.1 (tiny_http) and
//! rebuilds it when a chapter, a translation, a listing, a pinned output or the theme changes (notify).
//! Pages reload themselves after a rebuild (a small script polls `/__kmem_reload`).
//!
//! mdBook's own `serve` serves one language (each rebuild empties its output directory, and the Chinese
//! edition lives inside the English one), so the two languages are built with `mdbook build` and served
//! from here; `mdbook serve` works too, one language at a time (README.md).

use anyhow::{anyhow, Result};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tiny_http::{Header, Request, Response, Server};

/// What a rebuild depends on.
const WATCHED: &[&str] = &["book.toml", "src", "po", "theme", "listings", "examples", "tests/snapshots"];

const RELOAD_SCRIPT: &str = r#"<script>
(() => { let seen = null;
  setInterval(async () => {
    try { const v = await (await fetch('/__kmem_reload', {cache: 'no-store'})).text();
          if (seen !== null && v !== seen) { location.reload(); } seen = v; } catch (e) { }
  }, 1000); })();
</script>"#;

pub fn serve(lang: &str, port: u16, open: bool) -> Result<()> {
    if lang != "en" && !crate::site::TRANSLATIONS.contains(&lang) {
        return Err(anyhow!(
            "no edition {lang:?}: use --lang en or --lang {}",
            crate::site::TRANSLATIONS.join(" / --lang ")
        ));
    }
    // Bind first, so that a busy port is said before the build, not after it.
    let server = Server::http(("127.0.0.1", port)).map_err(|e| {
        anyhow!("cannot serve on 127.0.0.1:{port} ({e}): stop what listens there, or pick another port with --port")
    })?;
    let dest = crate::root().join("book");
    crate::site::build(&dest)?;
    let version = Arc::new(AtomicU64::new(1));

    let front = if lang == "en" { String::new() } else { format!("{lang}/") };
    let url = format!("http://127.0.0.1:{port}/{front}");
    eprintln!("==> serving the book at {url} (Ctrl-C to stop); edits rebuild it");
    if open {
        let _ = std::process::Command::new("xdg-open").arg(&url).spawn();
    }

    let server = Arc::new(server);
    for _ in 0..4 {
        let (server, root, version) = (server.clone(), dest.clone(), version.clone());
        std::thread::spawn(move || {
            while let Ok(request) = server.recv() {
                let _ = respond(request, &root, &version);
            }
        });
    }
    watch(&dest, &version)
}

/// Rebuilds the site after each burst of changes of the watched files (events within 300 ms of each
/// other make one rebuild); a failed build is reported and the last good site stays served. Reads are
/// not changes: the build itself opens every watched file, and inotify reports those opens (a change made
/// during a build makes the next one).
fn watch(dest: &Path, version: &AtomicU64) -> Result<()> {
    let (tx, rx) = mpsc::channel::<notify::Result<Event>>();
    let mut watcher = notify::recommended_watcher(tx)?;
    let root = crate::root();
    for w in WATCHED {
        let path = root.join(w);
        let mode = if path.is_dir() { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        watcher.watch(&path, mode).map_err(|e| anyhow!("watching {}: {e}", path.display()))?;
    }
    // `cargo xtask po` writes po/messages.pot, which no build reads.
    let change = |event: notify::Result<Event>| match event {
        Ok(e) if !matches!(e.kind, EventKind::Access(_)) => e.paths.into_iter().find(|p| !p.ends_with("messages.pot")),
        Ok(_) => None,
        Err(e) => {
            eprintln!("==> file watcher: {e}");
            None
        }
    };
    while let Ok(event) = rx.recv() {
        let Some(path) = change(event) else { continue };
        while let Ok(more) = rx.recv_timeout(Duration::from_millis(300)) {
            drop(change(more));
        }
        eprintln!("==> {} changed, rebuilding", shown(&path, &root));
        match crate::site::build(dest) {
            Ok(()) => {
                version.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => eprintln!("==> build failed (the previous site is still served): {e:#}"),
        }
    }
    Err(anyhow!("the file watcher stopped"))
}

fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

fn respond(request: Request, root: &Path, version: &AtomicU64) -> std::io::Result<()> {
    let no_store = Header::from_bytes("Cache-Control", "no-store").unwrap();
    let target = request.url().split(['?', '#']).next().unwrap_or("/").to_string();
    if target == "/__kmem_reload" {
        let body = version.load(Ordering::SeqCst).to_string();
        return request.respond(Response::from_string(body).with_header(no_store));
    }
    let (status, file) = match resolve(root, &target) {
        Some(file) => (200, file),
        None => (404, root.join("404.html")),
    };
    let mut body = std::fs::read(&file).unwrap_or_default();
    let kind = content_type(&file);
    if kind.starts_with("text/html") {
        let html = String::from_utf8_lossy(&body).replace("</body>", &format!("{RELOAD_SCRIPT}</body>"));
        body = html.into_bytes();
    }
    let response = Response::from_data(body)
        .with_status_code(status)
        .with_header(Header::from_bytes("Content-Type", kind).unwrap())
        .with_header(no_store);
    request.respond(response)
}

/// The file under `root` that a request path names (a directory means its index.html); `None` when there
/// is none. `..` and other non-normal components are refused.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let decoded = percent_decode(target)?;
    let mut file = root.to_path_buf();
    for part in decoded.split('/').filter(|p| !p.is_empty()) {
        if part == ".." || part == "." || part.contains('\\') {
            return None;
        }
        file.push(part);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

/// `%XX` escapes of a request path, decoded; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_resolve_inside_the_site_only() {
        let site = std::env::temp_dir().join(format!("kmem-serve-{}", std::process::id()));
        std::fs::create_dir_all(site.join("zh-CN")).unwrap();
        std::fs::write(site.join("zh-CN/index.html"), "x").unwrap();
        std::fs::write(site.join("a b.html"), "x").unwrap();
        assert_eq!(resolve(&site, "/zh-CN/"), Some(site.join("zh-CN/index.html")));
        assert_eq!(resolve(&site, "/a%20b.html"), Some(site.join("a b.html")));
        assert_eq!(resolve(&site, "/zh-CN/../../etc/passwd"), None);
        assert_eq!(resolve(&site, "/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(&site, "/missing.html"), None);
        assert_eq!(resolve(&site, "/bad%zz"), None);
        std::fs::remove_dir_all(&site).unwrap();
    }
}
