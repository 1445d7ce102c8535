//! `cargo run -p kmem-truth --example measure -- <real dir> <snapshots dir>`: per listing, masked real lines
//! and how many of them the pinned simulator output reproduces.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let real = std::path::Path::new(&args[1]);
    let snaps = std::path::Path::new(&args[2]);
    let (mut n, mut same, mut lines, mut matched) = (0, 0, 0, 0);
    let mut names: Vec<_> = std::fs::read_dir(real)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("dmesg.txt").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let r = std::fs::read_to_string(real.join(&name).join("dmesg.txt")).unwrap();
        let Ok(s) = std::fs::read_to_string(snaps.join(format!("listings__{name}.snap"))) else { continue };
        let c = kmem_truth::compare("dmesg", kmem_truth::snapshot_body(&s), &r, &[]);
        n += 1;
        if c.is_equal() {
            same += 1;
        }
        lines += c.real_lines;
        matched += c.matched_lines;
        println!(
            "{name:24} {:>4}/{:<4} {}",
            c.matched_lines,
            c.real_lines,
            if c.is_equal() { "identical" } else { "" }
        );
        if std::env::var("SHOW").as_deref() == Ok(name.as_str()) {
            println!("{}", c.diff);
        }
    }
    println!(
        "{same} of {n} identical; {matched} of {lines} real lines reproduced ({:.0}%)",
        100.0 * matched as f64 / lines as f64
    );
}
