//! Per-listing output files under `target/qemu/<listing>/`, the comparisons and the final table.
//!
//! Each listing's fresh real outputs (`dmesg.txt`, `insmod.txt`, one `<stem>.txt` per file its manifest
//! shows, trimmed to the shown rows; `raw/` keeps every section whole) are compared, under the masks and
//! the listing's declared exceptions of `kmem-truth`:
//! - with the committed capture in `listings/kernel/observed/<listing>/` (a change of the real kernel, or
//!   of a listing, shows as drift), and
//! - with the simulator's pin in `tests/snapshots/` (what `cargo test` compares with the committed capture).
//!
//! Differences are written as `<stem>.committed.diff` and `<stem>.simulator.diff`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::Result;

use super::boot::ListingRun;
use super::modules::{Built, Listing};

/// The outputs of one listing's run, `(stem, capture file name, text)`.
pub fn captures(l: &Listing, run: &ListingRun) -> Vec<(String, String, String)> {
    let sec = |k: &str| run.sections.get(k).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for o in kmem_truth::observed::outputs(&l.name, &l.manifest) {
        let text = match o.stem.as_str() {
            "dmesg" => match &run.crash {
                Some(console) => console.clone(),
                None => sec("dmesg"),
            },
            "insmod" => sec("insmod"),
            stem => {
                let show = l.manifest.show.iter().find(|s| s.stem() == stem).expect("an output of the manifest");
                show.select(&sec(&format!("show:{}", show.file)))
            }
        };
        out.push((o.stem, o.capture, text));
    }
    out
}

/// What happened to one listing, for the table.
struct Row {
    name: String,
    built: bool,
    insmod: String,
    committed: String,
    simulator: String,
    ok: bool,
}

/// Writes the files, prints the table; `true` when every listing passed. With `record`, the fresh
/// captures are what gets committed, so only the simulator comparison can fail.
pub fn report(
    listings: &[Listing],
    built: &BTreeMap<String, Built>,
    runs: &BTreeMap<String, ListingRun>,
    root: &Path,
    out_dir: &Path,
    record: bool,
) -> Result<bool> {
    let snapshots = root.join("tests/snapshots");
    let mut rows = Vec::new();
    for l in listings {
        let dir = out_dir.join(&l.name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(dir.join("raw"))?;
        let b = &built[&l.name];
        let mut row = Row {
            name: l.name.clone(),
            built: b.ko.is_some(),
            insmod: "-".into(),
            committed: "-".into(),
            simulator: "-".into(),
            ok: false,
        };
        if b.ko.is_none() {
            fs::write(dir.join("build-errors.txt"), &b.errors)?;
            rows.push(row);
            continue;
        }
        let Some(run) = runs.get(&l.name) else {
            rows.push(row);
            continue;
        };
        for (k, v) in &run.sections {
            fs::write(dir.join("raw").join(format!("{}.txt", k.replace(['/', ':'], "_"))), v)?;
        }
        row.insmod = match (&run.crash, run.insmod_rc) {
            (Some(_), _) => "kernel died".into(),
            (None, Some(0)) => "loaded".into(),
            (None, Some(rc)) => format!("failed ({rc})"),
            (None, None) => "not run".into(),
        };
        let expected_insmod = match l.manifest.insmod {
            kmem_truth::Insmod::Succeeds => run.crash.is_none() && run.insmod_rc == Some(0) && run.rmmod_rc == Some(0),
            kmem_truth::Insmod::Fails | kmem_truth::Insmod::Killed => {
                run.crash.is_none() && run.insmod_rc.is_some_and(|rc| rc != 0)
            }
            kmem_truth::Insmod::Panics => run.crash.is_some(),
        };
        let committed_dir = kmem_truth::observed::listing_dir(root, &l.name);
        let (mut drift, mut sim_diff, mut sim_lines, mut real_lines) = (Vec::new(), Vec::new(), 0, 0);
        for (stem, capture, text) in captures(l, run) {
            fs::write(dir.join(&capture), &text)?;
            if !record {
                match fs::read_to_string(committed_dir.join(&capture)) {
                    Ok(committed) => {
                        let c = kmem_truth::compare(&stem, &committed, &text, &l.manifest.exceptions);
                        if !c.is_equal() {
                            fs::write(dir.join(format!("{stem}.committed.diff")), diff_text(&c))?;
                            drift.push(stem.clone());
                        }
                    }
                    Err(_) => drift.push(format!("{stem} (no committed capture)")),
                }
            }
            let snap = snapshots.join(format!(
                "listings__{}{}.snap",
                l.name,
                if stem == "dmesg" { String::new() } else { format!("-{stem}") }
            ));
            match fs::read_to_string(&snap) {
                Ok(pin) => {
                    let c = kmem_truth::compare(&stem, kmem_truth::snapshot_body(&pin), &text, &l.manifest.exceptions);
                    sim_lines += c.matched_lines;
                    real_lines += c.real_lines;
                    if !c.is_equal() {
                        fs::write(dir.join(format!("{stem}.simulator.diff")), diff_text(&c))?;
                        sim_diff.push(stem.clone());
                    }
                }
                Err(_) => sim_diff.push(format!("{stem} (no pin)")),
            }
        }
        row.committed = if record {
            "recorded".into()
        } else if drift.is_empty() {
            "same".into()
        } else {
            format!("DRIFT: {}", drift.join(", "))
        };
        row.simulator = if sim_diff.is_empty() {
            format!("same ({real_lines} lines)")
        } else {
            format!("DIFFERS: {} ({sim_lines}/{real_lines} lines)", sim_diff.join(", "))
        };
        row.ok = expected_insmod && drift.is_empty() && sim_diff.is_empty();
        if !expected_insmod {
            row.insmod = format!("{} (manifest: {:?})", row.insmod, l.manifest.insmod);
        }
        rows.push(row);
    }
    print_table(&rows);
    let mut md = String::from("| listing | built | insmod | committed capture | simulator |\n|---|---|---|---|---|\n");
    for r in &rows {
        md.push_str(&format!("| {} | {} | {} | {} | {} |\n", r.name, r.built, r.insmod, r.committed, r.simulator));
    }
    fs::write(out_dir.join("summary.md"), md)?;
    Ok(rows.iter().all(|r| r.ok))
}

fn diff_text(c: &kmem_truth::Comparison) -> String {
    let mut s = c.diff.clone();
    for e in &c.exception_errors {
        s.push_str(&format!("exception: {e}\n"));
    }
    s
}

fn print_table(rows: &[Row]) {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                if r.built { "yes".into() } else { "NO".into() },
                r.insmod.clone(),
                r.committed.clone(),
                r.simulator.clone(),
            ]
        })
        .collect();
    let head = ["listing", "built", "insmod", "committed capture", "simulator"];
    let mut w = head.map(|h| h.len());
    for r in &cells {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |c: [&str; 5]| {
        let s: Vec<String> = (0..5).map(|i| format!("{:<width$}", c[i], width = w[i])).collect();
        println!("{}", s.join("  ").trim_end());
    };
    println!();
    line(head);
    let dashes: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
    line([&dashes[0], &dashes[1], &dashes[2], &dashes[3], &dashes[4]]);
    for r in &cells {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    println!();
}
