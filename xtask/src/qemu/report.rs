//! Per-listing output files under `target/qemu/<listing>/`, the comparison with the pinned
//! simulator output, and the final table.
//!
//! Files per listing: `dmesg.txt` (real, from insmod through rmmod), `dmesg.normalized.txt`,
//! `snapshot.normalized.txt`, `diff.txt` (when they differ), `vmallocinfo.txt` (areas that
//! appeared while loaded), `slabinfo.txt` (rows that changed while loaded, and new caches),
//! `buddyinfo.txt` (before / loaded / after), `insmod.txt`, `rmmod.txt`, `crash.txt`,
//! `build-errors.txt`, and `raw/` with every full dump.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::Result;

use super::boot::ListingRun;
use super::modules::{Built, Listing};
use super::normalize::{compare, normalize, normalize_insmod, snapshot_body};

#[derive(Debug, Clone, PartialEq)]
enum Match {
    Yes,
    No,
    NoSnapshot,
    NotRun,
}

/// Write the files, print the table; `true` when every listing passed.
pub fn report(
    listings: &[Listing],
    built: &BTreeMap<String, Built>,
    runs: &BTreeMap<String, ListingRun>,
    snapshots: &Path,
    out_dir: &Path,
) -> Result<bool> {
    let mut rows = Vec::new();
    let mut all_ok = true;
    for l in listings {
        let dir = out_dir.join(&l.name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(dir.join("raw"))?;
        let b = &built[&l.name];
        let is_built = b.ko.is_some();
        if !is_built {
            fs::write(dir.join("build-errors.txt"), &b.errors)?;
        }
        let run = runs.get(&l.name);
        let loaded = run.and_then(|r| r.insmod_rc).map(|rc| rc == 0);
        let unloaded = run.and_then(|r| r.rmmod_rc).map(|rc| rc == 0);
        let mut matches = Match::NotRun;
        let mut note = String::new();
        if let Some(r) = run {
            for (k, v) in &r.sections {
                fs::write(dir.join("raw").join(format!("{k}.txt")), v)?;
            }
            let sec = |k: &str| r.sections.get(k).cloned().unwrap_or_default();
            fs::write(dir.join("insmod.txt"), sec("insmod"))?;
            fs::write(dir.join("rmmod.txt"), sec("rmmod"))?;
            fs::write(dir.join("vmallocinfo.txt"), new_lines(&sec("vmallocinfo.before"), &sec("vmallocinfo.loaded")))?;
            fs::write(dir.join("slabinfo.txt"), slab_changes(&sec("slabinfo.before"), &sec("slabinfo.loaded")))?;
            fs::write(
                dir.join("buddyinfo.txt"),
                format!(
                    "# before insmod\n{}# while loaded\n{}# after rmmod\n{}",
                    sec("buddyinfo.before"),
                    sec("buddyinfo.loaded"),
                    sec("buddyinfo.after")
                ),
            )?;
            if let Some(c) = &r.crash {
                fs::write(dir.join("crash.txt"), c)?;
                note = format!("crashed/hung the kernel (boot {}): see {}", r.boot, dir.join("crash.txt").display());
            }
            if r.done {
                let dmesg = sec("dmesg");
                fs::write(dir.join("dmesg.txt"), &dmesg)?;
                fs::write(dir.join("dmesg.normalized.txt"), normalize(&dmesg))?;
                let snap = snapshots.join(format!("listings__{}.snap", l.name));
                match fs::read_to_string(&snap) {
                    Err(_) => {
                        matches = Match::NoSnapshot;
                        note = format!("no snapshot {}", snap.display());
                    }
                    Ok(s) => {
                        let body = snapshot_body(&s);
                        fs::write(dir.join("snapshot.normalized.txt"), normalize(&body))?;
                        match compare(&dmesg, &body) {
                            None => matches = Match::Yes,
                            Some(d) => {
                                fs::write(dir.join("diff.txt"), &d)?;
                                eprintln!("\n=== {}: real dmesg differs from the simulator snapshot ===\n{d}", l.name);
                                matches = Match::No;
                            }
                        }
                    }
                }
            }
        }
        // A `<name>-insmod` pin means the simulator expects insmod to fail, with that message.
        let insmod_pin = fs::read_to_string(snapshots.join(format!("listings__{}-insmod.snap", l.name)))
            .ok()
            .map(|s| snapshot_body(&s));
        let mut load_ok = loaded == Some(true) && unloaded == Some(true) && insmod_pin.is_none();
        let mut loaded_cell = yn(loaded);
        if let (Some(pin), Some(false)) = (&insmod_pin, loaded) {
            let real = run.map(|r| r.sections.get("insmod").cloned().unwrap_or_default()).unwrap_or_default();
            if normalize_insmod(&real) == normalize_insmod(pin) {
                load_ok = true;
                loaded_cell = "no (as pinned)".into();
            } else {
                loaded_cell = "NO (insmod differs)".into();
                let d = similar::TextDiff::from_lines(&normalize_insmod(pin), &normalize_insmod(&real))
                    .unified_diff()
                    .header("simulator insmod (snapshot)", "real insmod")
                    .to_string();
                fs::write(dir.join("insmod.diff.txt"), &d)?;
                eprintln!("\n=== {}: insmod output differs from the pinned one ===\n{d}", l.name);
            }
        } else if insmod_pin.is_some() && loaded == Some(true) {
            loaded_cell = "yes (pin expects failure)".into();
        }
        if run.is_some_and(|r| r.fresh) {
            note = if note.is_empty() { "fresh boot".to_string() } else { format!("fresh boot; {note}") };
        }
        let ok = is_built && load_ok && matches == Match::Yes;
        // A missing snapshot is reported, not a failure of the real-kernel run itself.
        let ok = ok || (is_built && load_ok && matches == Match::NoSnapshot);
        if !ok {
            all_ok = false;
        }
        rows.push([
            l.name.clone(),
            yn(Some(is_built)),
            loaded_cell,
            yn(unloaded),
            match matches {
                Match::Yes => "yes".into(),
                Match::No => "NO (diff.txt)".into(),
                Match::NoSnapshot => "no snapshot".into(),
                Match::NotRun => "-".into(),
            },
            note,
        ]);
    }
    print_table(&rows);
    let mut md =
        String::from("| listing | built | loaded | unloaded | matches simulator | note |\n|---|---|---|---|---|---|\n");
    for r in &rows {
        md.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    fs::write(out_dir.join("summary.md"), md)?;
    Ok(all_ok)
}

fn yn(v: Option<bool>) -> String {
    match v {
        Some(true) => "yes".into(),
        Some(false) => "NO".into(),
        None => "-".into(),
    }
}

fn print_table(rows: &[[String; 6]]) {
    let head = ["listing", "built", "loaded", "unloaded", "matches simulator", "note"];
    let mut w = head.map(|h| h.len());
    for r in rows {
        for (i, c) in r.iter().enumerate().take(5) {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut s = String::new();
        for i in 0..5 {
            s.push_str(&format!("{:<width$}  ", cells[i], width = w[i]));
        }
        s.push_str(cells[5]);
        println!("{}", s.trim_end());
    };
    println!();
    line(head);
    line([
        "-".repeat(w[0]).as_str(),
        &"-".repeat(w[1]),
        &"-".repeat(w[2]),
        &"-".repeat(w[3]),
        &"-".repeat(w[4]),
        "----",
    ]);
    for r in rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
    println!();
}

/// Lines of `after` that were not in `before` (e.g. new vmalloc areas).
fn new_lines(before: &str, after: &str) -> String {
    let b: BTreeSet<&str> = before.lines().collect();
    let mut s: String = after.lines().filter(|l| !b.contains(l)).map(|l| format!("{l}\n")).collect();
    if s.is_empty() {
        s = "# no new areas while loaded\n".into();
    }
    s
}

/// slabinfo rows whose counts changed while loaded, as `before` / `loaded` pairs, plus new caches.
fn slab_changes(before: &str, loaded: &str) -> String {
    let rows = |t: &str| -> BTreeMap<String, String> {
        t.lines()
            .filter(|l| !l.starts_with("slabinfo") && !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next().map(|n| (n.to_string(), l.to_string())))
            .collect()
    };
    let b = rows(before);
    let a = rows(loaded);
    let mut s = String::new();
    if let Some(h) = loaded.lines().find(|l| l.starts_with("# name")) {
        s.push_str(h);
        s.push('\n');
    }
    for (name, row) in &a {
        match b.get(name) {
            None => s.push_str(&format!("new:    {row}\n")),
            Some(old) if old != row => s.push_str(&format!("before: {old}\nloaded: {row}\n")),
            _ => {}
        }
    }
    for (name, row) in &b {
        if !a.contains_key(name) {
            s.push_str(&format!("gone:   {row}\n"));
        }
    }
    s
}
