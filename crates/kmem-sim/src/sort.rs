//! The kernel's in-place sort (lib/sort.c of 6.12.117): `sort_r()`, a bottom-up heapsort that takes the two
//! largest elements per round. It is not stable, so where a caller's comparison calls elements equal (SLUB's
//! `cmp_loc_by_count()` never returns 0), the order it leaves is this algorithm's, which is why it is ported
//! step by step rather than replaced by Rust's sort.

#![forbid(unsafe_code)]

/// `parent()` for one-element steps: the parent of heap position `i`.
fn parent(i: usize) -> usize {
    (i - 1) / 2
}

/// `sort_r(base, num, size, cmp, NULL, priv)` on a slice: `cmp(a, b)` is negative, zero or positive as
/// `a` sorts before, with or after `b`; the result is ascending under it.
///
/// Context: any.
pub fn sort_r<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> i32) {
    let num = v.len();
    let mut n = num;
    let mut a = num / 2;
    if a == 0 {
        return;
    }
    let mut shift = 0usize;
    loop {
        if a != 0 {
            // Building the heap: sift down a.
            a -= 1 << shift;
        } else if n > 3 {
            // Sorting: extract the two largest elements.
            n -= 1;
            v.swap(0, n);
            shift = (cmp(&v[1], &v[2]) <= 0) as usize;
            a = 1 << shift;
            n -= 1;
            v.swap(a, n);
        } else {
            break;
        }
        let mut b = a;
        let mut c;
        let mut d;
        loop {
            c = 2 * b + 1;
            d = c + 1;
            if d >= n {
                break;
            }
            b = if cmp(&v[c], &v[d]) > 0 { c } else { d };
        }
        if d == n {
            // The last leaf has no sibling.
            b = c;
        }
        while b != a && cmp(&v[a], &v[b]) >= 0 {
            b = parent(b);
        }
        let c = b;
        while b != a {
            b = parent(b);
            v.swap(b, c);
        }
    }
    n -= 1;
    v.swap(0, n);
    if n == 2 && cmp(&v[0], &v[1]) > 0 {
        v.swap(0, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_ascending() {
        for len in 0..40usize {
            let mut v: Vec<u64> = (0..len as u64).map(|i| (i * 7919 + 13) % 23).collect();
            let mut want = v.clone();
            want.sort();
            sort_r(&mut v, |a, b| a.cmp(b) as i32);
            assert_eq!(v, want, "{len}");
        }
    }

    #[test]
    fn equal_elements_keep_the_heapsorts_order() {
        // SLUB's cmp_loc_by_count() (descending counts, never "equal") on tagged counts; the expected orders
        // are what lib/sort.c's sort_r() leaves, compiled from its source and run on the same input.
        let cases: [(&[u32], &str); 4] = [
            (&[1, 1, 1], "1b 1c 1a"),
            (&[1, 1, 1, 1, 1], "1d 1c 1e 1b 1a"),
            (&[3, 1, 2, 1, 3, 1, 2], "3a 3e 2g 2c 1f 1d 1b"),
            (&[1, 2, 1, 2, 1, 2, 1, 2], "2b 2d 2h 2f 1c 1g 1e 1a"),
        ];
        for (counts, want) in cases {
            let mut v: Vec<(u32, char)> = counts.iter().zip('a'..).map(|(&c, t)| (c, t)).collect();
            sort_r(&mut v, |x, y| if x.0 > y.0 { -1 } else { 1 });
            let got: Vec<String> = v.iter().map(|(c, t)| format!("{c}{t}")).collect();
            assert_eq!(got.join(" "), want);
        }
    }
}
