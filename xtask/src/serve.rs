//! `cargo xtask serve`: builds the bilingual site into `book/`, serves it on 127.0.0.1 and rebuilds it
//! when a chapter, a translation, a listing, a pinned output or the theme changes. Pages reload
//! themselves after a rebuild (a small script polls `/__kmem_reload`).
//!
//! mdBook's own `serve` can only serve one language (each rebuild empties its output directory), so the
//! two languages are built with `mdbook build` and served from here.

use crate::tools::{self, Tools};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What a rebuild depends on.
const WATCHED: &[&str] = &[
    "book.toml",
    "src",
    "po",
    "theme",
    "listings",
    "examples",
    "tests/snapshots",
];

const RELOAD_SCRIPT: &str = r#"<script>
(() => { let seen = null;
  setInterval(async () => {
    try { const v = await (await fetch('/__kmem_reload', {cache: 'no-store'})).text();
          if (seen !== null && v !== seen) { location.reload(); } seen = v; } catch (e) { }
  }, 1000); })();
</script>"#;

pub fn serve(lang: &str, port: u16, open: bool) -> Result<()> {
    let tools = tools::ensure()?;
    let dest = crate::root().join("book");
    crate::site::build(&tools, &dest)?;
    let version = Arc::new(AtomicU64::new(1));

    let listener = TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("binding 127.0.0.1:{port} (try --port)"))?;
    let front = if lang == "en" {
        String::new()
    } else {
        format!("{lang}/")
    };
    let url = format!("http://127.0.0.1:{port}/{front}");
    eprintln!("==> serving the book at {url} (Ctrl-C to stop); edits rebuild it");
    if open {
        let _ = std::process::Command::new("xdg-open").arg(&url).spawn();
    }

    let root = dest.clone();
    let served = version.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            let version = served.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, &root, &version);
            });
        }
    });

    watch(&tools, &dest, &version)
}

fn snapshot() -> Vec<(PathBuf, SystemTime)> {
    fn walk(p: &Path, out: &mut Vec<(PathBuf, SystemTime)>) {
        if p.is_dir() {
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                walk(&e.path(), out);
            }
        } else if let Ok(m) = p.metadata().and_then(|m| m.modified()) {
            out.push((p.to_path_buf(), m));
        }
    }
    let mut out = Vec::new();
    for w in WATCHED {
        walk(&crate::root().join(w), &mut out);
    }
    out.retain(|(p, _)| !p.ends_with("messages.pot"));
    out.sort();
    out
}

fn watch(tools: &Tools, dest: &Path, version: &AtomicU64) -> Result<()> {
    let mut last = snapshot();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = snapshot();
        if now != last {
            last = now;
            eprintln!("==> change detected, rebuilding");
            match crate::site::build(tools, dest) {
                Ok(()) => {
                    version.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => eprintln!("==> build failed: {e:#}"),
            }
        }
    }
}

fn handle(mut stream: TcpStream, root: &Path, version: &AtomicU64) -> Result<()> {
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    let path = percent_decode(target.split(['?', '#']).next().unwrap_or("/"));
    if path == "/__kmem_reload" {
        return respond(
            &mut stream,
            "200 OK",
            "text/plain",
            version.load(Ordering::SeqCst).to_string().as_bytes(),
        );
    }
    let mut file = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != "..") {
        file.push(part);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    let (status, file) = if file.is_file() {
        ("200 OK", file)
    } else {
        ("404 Not Found", root.join("404.html"))
    };
    let mut body = std::fs::read(&file).unwrap_or_default();
    let kind = content_type(&file);
    if kind.starts_with("text/html") {
        let html =
            String::from_utf8_lossy(&body).replace("</body>", &format!("{RELOAD_SCRIPT}</body>"));
        body = html.into_bytes();
    }
    respond(&mut stream, status, kind, &body)
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    Ok(())
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
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 0 && i + 2 <= bytes.len() - 1 {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
