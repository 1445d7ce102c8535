//! The façade's `kernel::bindings` against the real build's: `listings/kernel/stock-bindings.txt`, written by
//! `listings/kernel/stock-bindings.py` from bindgen's own command, lists every item the stock 6.12.117 bindings
//! take from the allocation headers (`fn`, `const`, `static`, `type`, and the stock `helper`s), and, as `real`,
//! every other item the façade defines that the book's patched build has. Every function, constant and static
//! the façade defines must be one of them, with bindgen's parameter and return types; the stock items the
//! façade does not have yet are counted and printed.

mod common;

use std::collections::BTreeMap;

/// One item's kind and its types: parameters and return for a function, the type for a constant or static.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    kind: String,
    types: String,
}

/// A type as both sides spell it: without paths (`ffi::`, `crate::`), bindgen's `bool_`/`u64_` aliases as
/// the primitives they name, C integer types as their x86_64 (LP64) Rust types, whitespace collapsed.
fn normalise_type(t: &str) -> String {
    let t = t.replace("ffi::", "").replace("core::", "").replace("crate::", "").replace("::option::Option", "Option");
    let t = t.replace("< ", "<").replace(", >", ">").replace(",>", ">");
    static WORDS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let words = WORDS.get_or_init(|| {
        regex::Regex::new(r"\b(bool_|u8_|u16_|u32_|u64_|c_uint|c_int|c_ulong|c_long|c_ushort|c_short|c_uchar|c_ulonglong|c_longlong|_slab_flag_bits)\b").unwrap()
    });
    let t = words.replace_all(&t, |c: &regex::Captures| {
        match &c[1] {
            "bool_" => "bool",
            "u8_" | "c_uchar" => "u8",
            "u16_" | "c_ushort" => "u16",
            "u32_" | "c_uint" | "_slab_flag_bits" => "u32",
            "u64_" | "c_ulong" | "c_ulonglong" => "u64",
            "c_int" => "i32",
            "c_short" => "i16",
            "c_long" | "c_longlong" => "i64",
            other => other,
        }
        .to_string()
    });
    t.split_whitespace().collect::<Vec<_>>().join(" ").trim_end_matches(',').trim().to_string()
}

/// Splits `a: T, b: U` at the commas that are not inside `<…>` or `(…)`.
fn params(list: &str) -> Vec<String> {
    let (mut out, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for c in list.chars() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out.into_iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| normalise_type(p.split_once(':').map_or(p.as_str(), |(_, t)| t)))
        .collect()
}

/// `fn NAME(params) -> ret` (bindgen's or the façade's) as its types.
fn fn_types(sig: &str) -> Option<(String, String)> {
    static SIG: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = SIG.get_or_init(|| regex::Regex::new(r"fn (\w+) ?\((.*)\)(?: -> ([^;{]+))?").unwrap());
    let c = re.captures(sig)?;
    let ret = c.get(3).map(|r| normalise_type(r.as_str())).unwrap_or_default();
    Some((c[1].to_string(), format!("({}) -> {ret}", params(&c[2]).join(", "))))
}

/// The real build's items by name.
fn real_items(text: &str) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((head, sig)) = line.split_once(" :: ") else { continue };
        let w: Vec<&str> = head.split_whitespace().collect();
        let (kind, name) = match w.as_slice() {
            ["real", name, kind] => (kind.to_string(), name.to_string()),
            [kind, name, _] => (kind.to_string(), name.to_string()),
            _ => continue,
        };
        let kind = if kind == "helper" { "fn".to_string() } else { kind };
        let types = match kind.as_str() {
            "fn" => fn_types(sig).map(|(_, t)| t).unwrap_or_default(),
            // `NAME: TYPE = VALUE` (the value is checked at compile time, crates/kernel/build.rs).
            "const" | "static" => {
                normalise_type(sig.split_once(':').map_or("", |(_, t)| t).split(" = ").next().unwrap_or(""))
            }
            _ => String::new(),
        };
        out.insert(name, Item { kind, types });
    }
    out
}

/// The façade's functions, constants and statics (crates/kernel/src/bindings.rs, the slab flag bits it
/// re-exports from kmem-sim and the constants crates/kernel/build.rs generates into it).
fn facade_items(sources: &[String]) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    // Parameters may be function pointers (`Option<unsafe extern "C" fn(arg1: *mut c_void)>`): one level of
    // parentheses inside the list.
    let func = regex::Regex::new(r#"pub unsafe extern "C" fn (\w+) ?\(((?:[^()]|\([^()]*\))*)\)(?: -> ([^{]+))?\s*\{"#)
        .unwrap();
    // A type may be an array (`[c_ulong; 8usize]`), whose `;` does not end the item.
    let konst = regex::Regex::new(r"pub (const|static(?: mut)?) (\w+): ((?:\[[^\]]*\]|[^=;\[])+)[=;]").unwrap();
    for src in sources {
        let flat = src.split_whitespace().collect::<Vec<_>>().join(" ");
        for c in func.captures_iter(&flat) {
            let ret = c.get(3).map(|r| normalise_type(r.as_str())).unwrap_or_default();
            let types = format!("({}) -> {ret}", params(&c[2]).join(", "));
            out.insert(c[1].to_string(), Item { kind: "fn".into(), types });
        }
        for c in konst.captures_iter(&flat) {
            let kind = if c[1].starts_with("static") { "static" } else { "const" };
            out.insert(c[2].to_string(), Item { kind: kind.into(), types: normalise_type(&c[3]) });
        }
    }
    out
}

fn sources() -> Vec<String> {
    let root = common::root();
    let kernel = std::fs::read_to_string(root.join("crates/kernel/src/bindings.rs")).unwrap();
    let slab = std::fs::read_to_string(root.join("crates/kmem-sim/src/slab_common.rs")).unwrap();
    // Only the `pub mod bindings { … }` block of slab_common.rs is re-exported.
    let start = slab.find("pub mod bindings {").expect("slab_common's bindings module");
    let end = start + slab[start..].find("\n}\n").expect("its end");
    vec![kernel, slab[start..end].to_string(), kernel::__sim::STOCK_CONSTS_RS.to_string()]
}

/// What is wrong with the façade against `real`: items the real build lacks and different types.
fn problems(facade: &BTreeMap<String, Item>, real: &BTreeMap<String, Item>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, f) in facade {
        match real.get(name) {
            None => out.push(format!("the façade defines `{name}`, which the real 6.12.117 bindings do not have")),
            Some(r) if r.kind != f.kind => {
                out.push(format!("`{name}`: a {} in the façade, a {} in the real bindings", f.kind, r.kind))
            }
            Some(r) if r.types != f.types => {
                out.push(format!("`{name}`: the façade's {} `{}`, the real `{}`", f.kind, f.types, r.types))
            }
            Some(_) => {}
        }
    }
    out
}

/// Names a reader's module uses that the real bindings have (the issue that asked for them named these).
#[test]
fn stock_constants_are_there() {
    use kernel::bindings as b;
    assert_eq!(b::MAX_PAGE_ORDER, kmem_sim::zone::MAX_PAGE_ORDER);
    assert_eq!(b::PAGE_ALLOC_COSTLY_ORDER, 3);
    assert_eq!(b::KMALLOC_MAX_SIZE as u64, kmem_sim::slab_common::KMALLOC_MAX_SIZE);
    assert_eq!(b::zone_type_ZONE_NORMAL, 2);
    assert_eq!(b::migratetype_MIGRATE_MOVABLE, 1);
}

#[test]
fn the_facade_has_only_real_items_with_real_signatures() {
    let text = std::fs::read_to_string(common::root().join("listings/kernel/stock-bindings.txt")).unwrap();
    let real = real_items(&text);
    let facade = facade_items(&sources());
    assert!(facade.len() > 100, "found only {} façade items", facade.len());
    let wrong = problems(&facade, &real);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // How much of the stock allocation API the façade has (the part of it still to do is printed).
    let stock: Vec<(&String, &Item)> =
        real.iter().filter(|(_, i)| matches!(i.kind.as_str(), "fn" | "const" | "static")).collect();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("real ") && !l.starts_with('#')).collect();
    let is_stock = |n: &str| lines.iter().any(|l| l.split_whitespace().nth(1) == Some(n));
    let (mut have, mut total, mut missing) = (0, 0, Vec::new());
    for (name, _) in stock.iter().filter(|(n, _)| is_stock(n)) {
        total += 1;
        if facade.contains_key(*name) {
            have += 1;
        } else {
            missing.push(name.as_str());
        }
    }
    eprintln!(
        "the façade has {have} of the {total} stock allocation functions, constants and statics; missing: {}",
        missing.join(" ")
    );
}

/// The check can fail: a façade item with another type, or one the real build lacks, is caught.
#[test]
fn a_wrong_signature_is_caught() {
    let real = real_items(
        "fn kfree slab :: pub fn kfree(objp: *const ffi::c_void);\nconst GFP_KERNEL bindings_helper :: GFP_KERNEL: gfp_t\n",
    );
    let ok = facade_items(&[
        r#"pub unsafe extern "C" fn kfree(objp: *const c_void) { } pub const GFP_KERNEL: gfp_t = 1;"#.into(),
    ]);
    assert!(problems(&ok, &real).is_empty(), "{:?}", problems(&ok, &real));
    let bad = facade_items(&[r#"pub unsafe extern "C" fn kfree(objp: *mut c_void) { } pub const GFP_KERNEL: u32 = 1; pub const MADE_UP: u32 = 0;"#.into()]);
    let p = problems(&bad, &real);
    assert_eq!(p.len(), 3, "{p:?}");
}
