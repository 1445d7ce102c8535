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

/// Which modules a run compares: where their committed captures and their simulator pins live.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// The captures' folder under the workspace root (one folder per module).
    pub observed: &'static str,
    /// The prefix of the pins in `tests/snapshots/` (insta names them after the test file).
    pub snapshot_prefix: &'static str,
}

impl Suite {
    /// The book's listings: `listings/kernel/observed/`, `tests/snapshots/listings__*.snap`.
    pub const LISTINGS: Suite = Suite { observed: kmem_truth::observed::DIR, snapshot_prefix: "listings__" };
    /// The conformance modules: `listings/kernel/observed-conformance/`, `tests/snapshots/conformance__*.snap`.
    pub const CONFORMANCE: Suite =
        Suite { observed: kmem_truth::observed::CONFORMANCE_DIR, snapshot_prefix: "conformance__" };
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
/// captures are what gets committed, so only the simulator comparison can fail. `suite` says where the
/// committed captures and the pins are.
pub fn report(
    listings: &[Listing],
    built: &BTreeMap<String, Built>,
    runs: &BTreeMap<String, ListingRun>,
    root: &Path,
    out_dir: &Path,
    record: bool,
    suite: Suite,
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
            kmem_truth::Insmod::Succeeds => {
                let rmmod_ok = match l.manifest.rmmod {
                    kmem_truth::Rmmod::Succeeds => run.rmmod_rc == Some(0),
                    kmem_truth::Rmmod::Killed => run.rmmod_rc.is_some_and(|rc| rc != 0),
                };
                run.crash.is_none() && run.insmod_rc == Some(0) && rmmod_ok
            }
            kmem_truth::Insmod::Fails | kmem_truth::Insmod::Killed => {
                run.crash.is_none() && run.insmod_rc.is_some_and(|rc| rc != 0)
            }
            kmem_truth::Insmod::Panics => run.crash.is_some(),
        };
        let committed_dir = root.join(suite.observed).join(&l.name);
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
                "{}{}{}.snap",
                suite.snapshot_prefix,
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
            row.insmod = format!("{} (manifest: {:?}, rmmod {:?})", row.insmod, l.manifest.insmod, l.manifest.rmmod);
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

/// How a reader's module fared ([`module_report`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Loaded and unloaded, and the simulator's outputs are the real kernel's under the masks.
    Same,
    /// The simulator's outputs differ from the real kernel's.
    Differs,
    /// Alike, but insmod failed, was killed or the kernel died (the session shows it).
    DidNotLoad,
}

/// `cargo xtask qemu --module`: prints the real session of `l` (as `cargo xtask run` prints the simulated one)
/// and then, output by output, its difference to the simulator's outputs in `sim_dir` (`KMEM_OUTPUTS` files)
/// under the masks and the manifest's exceptions; writes both and the diffs under `out_dir/<name>/`.
pub fn module_report(l: &Listing, run: &ListingRun, sim_dir: &Path, out_dir: &Path) -> Result<Verdict> {
    let dir = out_dir.join(&l.name);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(dir.join("raw"))?;
    for (k, v) in &run.sections {
        fs::write(dir.join("raw").join(format!("{}.txt", k.replace(['/', ':'], "_"))), v)?;
    }
    let real = captures(l, run);
    let insmod = run.sections.get("insmod").cloned().unwrap_or_default();
    let text_of = |stem: &str| real.iter().find(|(s, _, _)| s == stem).map(|(_, _, t)| t.as_str()).unwrap_or_default();
    let loaded = run.crash.is_none() && run.insmod_rc == Some(0);
    print!("{}", session(l, run, &insmod, &text_of));

    // The same outputs of the simulator, and insmod's message in both worlds.
    let mut outputs: Vec<(String, String, String)> = real.clone();
    if !outputs.iter().any(|(s, _, _)| s == "insmod") {
        outputs.push(("insmod".into(), "insmod.txt".into(), insmod));
    }
    println!("\n--- the simulator against the real kernel, masked (`-` simulator, `+` real kernel):");
    let mut differs = false;
    for (stem, capture, real_text) in &outputs {
        fs::write(dir.join(capture), real_text)?;
        let sim = fs::read_to_string(sim_dir.join(capture)).unwrap_or_default();
        if stem == "insmod" && sim.is_empty() && real_text.is_empty() {
            // Loaded in both worlds: nothing to compare.
            continue;
        }
        let c = kmem_truth::compare(stem, &sim, real_text, &l.manifest.exceptions);
        if c.is_equal() {
            println!("{stem}: the same ({} lines)", c.real_lines);
        } else {
            differs = true;
            println!("{stem}: {} of {} lines the same", c.matched_lines, c.real_lines);
            print!("{}", diff_text(&c));
            fs::write(dir.join(format!("{stem}.simulator.diff")), diff_text(&c))?;
        }
    }
    Ok(if differs {
        Verdict::Differs
    } else if loaded && run.rmmod_rc == Some(0) {
        Verdict::Same
    } else {
        Verdict::DidNotLoad
    })
}

/// The guest's terminal session for a listing's run, in the runner's format: `$ insmod`, its message, the shown
/// files while loaded, `$ rmmod`, `$ dmesg` (for a kernel that died: the console from the insmod on).
fn session<'a>(l: &Listing, run: &ListingRun, insmod: &str, text_of: &dyn Fn(&str) -> &'a str) -> String {
    let mut out = format!("$ insmod {}.ko\n{insmod}", l.name);
    if run.crash.is_none() && run.insmod_rc == Some(0) {
        for s in &l.manifest.show {
            out.push_str(&format!("$ cat {}\n{}", s.file, text_of(&s.stem())));
        }
        out.push_str(&format!("$ rmmod {}\n", l.name));
        out.push_str(run.sections.get("rmmod").map(String::as_str).unwrap_or_default());
    }
    out.push_str("$ dmesg\n");
    out.push_str(text_of("dmesg"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(show: &[&str]) -> Listing {
        Listing {
            name: "mine".into(),
            chapter: "ch-module".into(),
            source: "/m/mine.rs".into(),
            manifest: kmem_truth::Manifest::default().with_options(None, show).unwrap(),
        }
    }

    fn run(insmod_rc: i32, sections: &[(&str, &str)]) -> ListingRun {
        ListingRun {
            sections: sections.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            insmod_rc: Some(insmod_rc),
            rmmod_rc: (insmod_rc == 0).then_some(0),
            done: true,
            ..Default::default()
        }
    }

    const REAL: &str =
        "[   14.294607] mine: loading out-of-tree module taints kernel.\n[   14.312830] mine: at 0xffff888003699a00\n";
    const SIM: &str =
        "[    1.300002] mine: loading out-of-tree module taints kernel.\n[    1.300005] mine: at 0xffff888002748000\n";

    #[test]
    fn the_real_session_is_printed_as_the_simulated_one() {
        let l = listing(&["/proc/buddyinfo"]);
        let r = run(0, &[("dmesg", REAL), ("insmod", ""), ("rmmod", ""), ("show:/proc/buddyinfo", "Node 0\n")]);
        let text_of = |stem: &str| match stem {
            "dmesg" => REAL,
            "buddyinfo" => "Node 0\n",
            _ => "",
        };
        assert_eq!(
            session(&l, &r, "", &text_of),
            format!("$ insmod mine.ko\n$ cat /proc/buddyinfo\nNode 0\n$ rmmod mine\n$ dmesg\n{REAL}")
        );
        let failed = run(
            1,
            &[("dmesg", REAL), ("insmod", "insmod: ERROR: could not insert module mine.ko: Cannot allocate memory\n")],
        );
        assert_eq!(
            session(&l, &failed, &failed.sections["insmod"], &text_of),
            format!("$ insmod mine.ko\n{}$ dmesg\n{REAL}", failed.sections["insmod"])
        );
    }

    #[test]
    fn verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let sim = dir.path().join("simulator");
        fs::create_dir_all(&sim).unwrap();
        fs::write(sim.join("dmesg.txt"), SIM).unwrap();
        let l = listing(&[]);
        let loaded = run(0, &[("dmesg", REAL), ("insmod", ""), ("rmmod", "")]);
        assert_eq!(module_report(&l, &loaded, &sim, dir.path()).unwrap(), Verdict::Same);
        assert_eq!(fs::read_to_string(dir.path().join("mine/dmesg.txt")).unwrap(), REAL);
        let other = run(0, &[("dmesg", &REAL.replace("at ", "is at ")), ("insmod", ""), ("rmmod", "")]);
        assert_eq!(module_report(&l, &other, &sim, dir.path()).unwrap(), Verdict::Differs);
        assert!(fs::read_to_string(dir.path().join("mine/dmesg.simulator.diff"))
            .unwrap()
            .contains("+[TIME] mine: is at"));
        let msg = "insmod: ERROR: could not insert module mine.ko: Cannot allocate memory\n";
        let failed = run(1, &[("dmesg", REAL), ("insmod", msg)]);
        assert_eq!(module_report(&l, &failed, &sim, dir.path()).unwrap(), Verdict::Differs, "loaded in the simulator");
        fs::write(sim.join("insmod.txt"), msg).unwrap();
        assert_eq!(module_report(&l, &failed, &sim, dir.path()).unwrap(), Verdict::DidNotLoad);
    }
}
