//! Comparing a simulator output with a real capture after masking both, and counting what matches.

use regex::Regex;
use similar::{ChangeTag, TextDiff};

use crate::manifest::Exception;
use crate::mask::mask;

/// The outcome of one comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Lines of the real capture after masking.
    pub real_lines: usize,
    /// Of those, lines the simulator reproduced (in order: the longest common subsequence).
    pub matched_lines: usize,
    /// Of the matched lines, those that match only because of a declared exception: a line whose varying
    /// parts an exception names, or a line out of place in a file whose line order an exception frees.
    pub excepted_lines: usize,
    /// Unified diff, `-` simulator, `+` real kernel; empty when they are equal.
    pub diff: String,
    /// Problems with the declared exceptions (one that matches no line, or more than one, on a side).
    pub exception_errors: Vec<String>,
}

impl Comparison {
    /// Whether the two are equal under the masks and the declared exceptions.
    ///
    /// Context: any.
    pub fn is_equal(&self) -> bool {
        self.diff.is_empty() && self.exception_errors.is_empty()
    }
}

/// In the one line each `line` exception matches, replaces what its groups matched by `<varies>`; reports
/// an exception that matches no line or several. Returns the indices of the lines it changed.
fn apply_exceptions(
    lines: &mut [String],
    exceptions: &[(&Exception, &Regex)],
    side: &str,
    errors: &mut Vec<String>,
) -> Vec<usize> {
    let mut changed = Vec::new();
    for (e, re) in exceptions.iter().filter(|(e, _)| e.order.is_none()) {
        let hits: Vec<usize> = (0..lines.len()).filter(|&i| re.is_match(&lines[i])).collect();
        match hits.as_slice() {
            [i] => {
                let line = &lines[*i];
                let c = re.captures(line).expect("it matched");
                let mut out = String::new();
                let mut at = 0;
                for g in c.iter().skip(1).flatten() {
                    if g.start() < at {
                        continue;
                    }
                    out.push_str(&line[at..g.start()]);
                    out.push_str("<varies>");
                    at = g.end();
                }
                out.push_str(&line[at..]);
                if out != lines[*i] {
                    changed.push(*i);
                }
                lines[*i] = out;
            }
            [] => errors.push(format!("{side}: exception `{}` matches no line", e.line)),
            _ => errors.push(format!("{side}: exception `{}` matches {} lines (it must name one)", e.line, hits.len())),
        }
    }
    changed
}

/// Compares `sim` with `real` (both whole texts) under the masks and `exceptions` (those whose `file` is
/// `file`).
///
/// Context: any.
pub fn compare(file: &str, sim: &str, real: &str, exceptions: &[(Exception, Regex)]) -> Comparison {
    let mut a = mask(sim);
    let mut b = mask(real);
    let ours: Vec<(&Exception, &Regex)> =
        exceptions.iter().filter(|(e, _)| e.file == file).map(|(e, r)| (e, r)).collect();
    let mut exception_errors = Vec::new();
    let masked_a = a.clone();
    apply_exceptions(&mut a, &ours, "simulator", &mut exception_errors);
    let masked_b = b.clone();
    let varied = apply_exceptions(&mut b, &ours, "real kernel", &mut exception_errors);
    // Lines that needed an exception: a varied line whose masked texts differ, or (order exceptions)
    // a line the unsorted comparison does not match.
    let mut excepted_lines = varied.iter().filter(|&&i| !masked_a.contains(&masked_b[i])).count();
    if ours.iter().any(|(e, _)| e.order.as_deref() == Some("any")) {
        let (ua, ub) = (join(&a), join(&b));
        let unsorted = TextDiff::from_lines(&ua, &ub);
        let in_place = unsorted.iter_all_changes().filter(|c| c.tag() == ChangeTag::Equal).count();
        a.sort();
        b.sort();
        excepted_lines += b.len() - in_place.min(b.len());
    }
    let a_text = join(&a);
    let b_text = join(&b);
    let diff = TextDiff::from_lines(&a_text, &b_text);
    let matched_lines = diff.iter_all_changes().filter(|c| c.tag() == ChangeTag::Equal).count();
    let diff_text = if a == b {
        String::new()
    } else {
        diff.unified_diff().context_radius(3).header("simulator (masked)", "real kernel (masked)").to_string()
    };
    let excepted_lines = excepted_lines.min(matched_lines);
    Comparison { real_lines: b.len(), matched_lines, excepted_lines, diff: diff_text, exception_errors }
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    if !lines.is_empty() {
        s.push('\n');
    }
    s
}

/// The body of an insta snapshot: everything after its second `---` line.
///
/// Context: any.
pub fn snapshot_body(snap: &str) -> &str {
    let mut dashes = 0;
    let mut consumed = 0;
    for l in snap.split_inclusive('\n') {
        consumed += l.len();
        if l.trim_end() == "---" {
            dashes += 1;
            if dashes == 2 {
                return &snap[consumed..];
            }
        }
    }
    snap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use std::path::Path;

    const REAL: &str = "[    2.1] m: kmalloc(100) = 0xffff888003a4c100\n[    2.2] m: pfn 0x3481\n[    2.3] m: bye\n";
    const SIM: &str = "[    1.3] m: kmalloc(100) = 0xffff888001000080\n[    1.4] m: pfn 0x3c5f\n[    1.5] m: bye\n";

    #[test]
    fn equal_under_masks() {
        let c = compare("dmesg", SIM, REAL, &[]);
        assert!(c.is_equal(), "{}", c.diff);
        assert_eq!((c.real_lines, c.matched_lines), (3, 3));
    }

    #[test]
    fn every_kind_of_difference_is_caught() {
        for sim in [
            SIM.replace("kmalloc(100)", "kmalloc(128)"),
            SIM.replace("0xffff888001000080", "0xffffc90000005000"),
            SIM.replace("[    1.5] m: bye\n", ""),
            format!("{SIM}[    1.6] m: extra\n"),
            SIM.replace("bye", "bye "),
        ] {
            let c = compare("dmesg", &sim, REAL, &[]);
            assert!(!c.is_equal(), "{sim}");
            assert!(c.diff.contains("-[TIME]") || c.diff.contains("+[TIME]"), "{}", c.diff);
        }
        let c = compare("dmesg", &SIM.replace("kmalloc(100)", "kmalloc(128)"), REAL, &[]);
        assert_eq!(c.matched_lines, 2);
    }

    #[test]
    fn an_exception_covers_one_line_and_must_match() {
        let m = Manifest::parse(
            "[[exception]]\nfile = 'dmesg'\nline = 'kmalloc\\((\\d+)\\)'\nreason = 'the test says so'",
            Path::new("t.toml"),
        )
        .unwrap();
        let sim = SIM.replace("kmalloc(100)", "kmalloc(128)");
        let c = compare("dmesg", &sim, REAL, &m.exceptions);
        assert!(c.is_equal());
        assert_eq!((c.matched_lines, c.excepted_lines), (3, 1));
        // A line the exception names but that agrees anyway is not counted as excepted.
        assert_eq!(compare("dmesg", SIM, REAL, &m.exceptions).excepted_lines, 0);
        // Only the group may differ.
        let sim2 = SIM.replace("kmalloc(100) =", "kmalloc(128) is");
        assert!(!compare("dmesg", &sim2, REAL, &m.exceptions).is_equal());
        // Not for another file.
        assert!(!compare("buddyinfo.txt", &sim, REAL, &m.exceptions).is_equal());
        // Stale: matches nothing.
        let c = compare("dmesg", "x\n", "x\n", &m.exceptions);
        assert!(!c.is_equal());
        assert_eq!(c.exception_errors.len(), 2);
    }

    #[test]
    fn an_order_exception_compares_lines_not_their_order() {
        let m = Manifest::parse("[[exception]]\nfile = 'x'\norder = 'any'\nreason = 'node order'", Path::new("t.toml"))
            .unwrap();
        let c = compare("x", "b\na\n", "a\nb\n", &m.exceptions);
        assert!(c.is_equal());
        assert_eq!(c.excepted_lines, 1);
        assert!(!compare("x", "b\nc\n", "a\nb\n", &m.exceptions).is_equal());
        assert!(!compare("x", "b\na\n", "a\nb\n", &[]).is_equal());
    }

    #[test]
    fn snapshot_bodies() {
        assert_eq!(snapshot_body("---\nsource: a\n---\nbody\n"), "body\n");
    }
}
