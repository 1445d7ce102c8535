//! An augmented red-black tree over an index arena, in the spirit of lib/rbtree.c and
//! include/linux/rbtree_augmented.h (written from the textbook algorithms, not from the kernel's code).
//!
//! The kernel embeds a `struct rb_node` in every object and links objects with pointers; a tree is an
//! `rb_root` holding the top node. Here the objects live in an arena owned by the caller and are named by
//! [`NodeId`] indices; every object carries an [`RbNode`] (parent, children, colour) that the caller exposes
//! through the [`RbArena`] trait. One object can move between trees (as a `vmap_area` moves from the free tree
//! to a busy tree and on to a lazy tree) because a tree is nothing more than an [`RbRoot`].
//!
//! Augmentation (`RB_DECLARE_CALLBACKS_MAX`): an arena may keep, per node, a value computed from the node and
//! its two subtrees (the free tree keeps `subtree_max_size`, the largest free size below a node). The insert
//! and erase functions take `augment: bool` like the kernel's `__link_va(..., augment)`: when true, they keep
//! that value exact through rotations and structural changes, so every operation stays O(log n).
//!
//! No `unsafe`; no recursion (the depth of a red-black tree of n nodes is at most 2·log2(n+1)).

#![forbid(unsafe_code)]

/// An index into the caller's arena.
pub type NodeId = u32;

/// "No node" (a NULL `rb_node *`).
pub const NIL: NodeId = u32::MAX;

/// Node colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// Red.
    Red,
    /// Black.
    Black,
}

/// The links of one node (`struct rb_node`). `linked == false` is `RB_EMPTY_NODE()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RbNode {
    /// Parent, or [`NIL`] at the root.
    pub parent: NodeId,
    /// Left child.
    pub left: NodeId,
    /// Right child.
    pub right: NodeId,
    /// Colour.
    pub color: Color,
    /// Whether the node is in a tree (`!RB_EMPTY_NODE()`).
    pub linked: bool,
}

impl Default for RbNode {
    fn default() -> Self {
        RbNode::EMPTY
    }
}

impl RbNode {
    /// An unlinked node (`RB_CLEAR_NODE()`).
    pub const EMPTY: RbNode = RbNode { parent: NIL, left: NIL, right: NIL, color: Color::Black, linked: false };
}

/// A tree: the top node (`struct rb_root`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RbRoot {
    /// The root node or [`NIL`] (`RB_ROOT`).
    pub node: NodeId,
}

impl Default for RbRoot {
    fn default() -> Self {
        RbRoot { node: NIL }
    }
}

impl RbRoot {
    /// `RB_EMPTY_ROOT()`.
    ///
    /// Context: any.
    pub fn is_empty(&self) -> bool {
        self.node == NIL
    }
}

/// Access to the nodes of an arena, plus the optional augmented value.
pub trait RbArena {
    /// The links of node `n`.
    fn rb(&self, n: NodeId) -> &RbNode;
    /// The links of node `n`, mutable.
    fn rb_mut(&mut self, n: NodeId) -> &mut RbNode;
    /// The stored augmented value of `n` (0 if the arena keeps none).
    fn aug_get(&self, _n: NodeId) -> u64 {
        0
    }
    /// Stores the augmented value of `n`.
    fn aug_set(&mut self, _n: NodeId, _v: u64) {}
    /// The node's own contribution to the augmented value (`va_size()` for the free tree).
    fn aug_own(&self, _n: NodeId) -> u64 {
        0
    }
}

/// The augmented value of a possibly-[`NIL`] node (`get_subtree_max_size()`).
///
/// Context: any.
pub fn aug_of<A: RbArena + ?Sized>(a: &A, n: NodeId) -> u64 {
    if n == NIL {
        0
    } else {
        a.aug_get(n)
    }
}

/// Computes `max(own(n), aug(left), aug(right))` from the stored values of the children.
///
/// Context: any.
pub fn aug_compute<A: RbArena + ?Sized>(a: &A, n: NodeId) -> u64 {
    let r = a.rb(n);
    a.aug_own(n).max(aug_of(a, r.left)).max(aug_of(a, r.right))
}

fn recompute<A: RbArena + ?Sized>(a: &mut A, n: NodeId) -> bool {
    let v = aug_compute(a, n);
    if v == a.aug_get(n) {
        false
    } else {
        a.aug_set(n, v);
        true
    }
}

/// Recomputes the augmented value from `n` up to the root. With `stop_early`, stops at the first node whose
/// value did not change (the kernel's `..._propagate(node, NULL)`, valid when only `n`'s own size changed);
/// without, walks the whole path (used after structural changes).
///
/// Context: any.
pub fn propagate<A: RbArena + ?Sized>(a: &mut A, mut n: NodeId, stop_early: bool) {
    while n != NIL {
        let changed = recompute(a, n);
        if stop_early && !changed {
            break;
        }
        n = a.rb(n).parent;
    }
}

fn is_red<A: RbArena + ?Sized>(a: &A, n: NodeId) -> bool {
    n != NIL && a.rb(n).color == Color::Red
}

fn set_color<A: RbArena + ?Sized>(a: &mut A, n: NodeId, c: Color) {
    if n != NIL {
        a.rb_mut(n).color = c;
    }
}

fn set_parent<A: RbArena + ?Sized>(a: &mut A, n: NodeId, p: NodeId) {
    if n != NIL {
        a.rb_mut(n).parent = p;
    }
}

/// Replaces `old` by `new` in `old`'s parent (or at the root).
fn change_child<A: RbArena + ?Sized>(a: &mut A, root: &mut RbRoot, parent: NodeId, old: NodeId, new: NodeId) {
    if parent == NIL {
        root.node = new;
    } else if a.rb(parent).left == old {
        a.rb_mut(parent).left = new;
    } else {
        a.rb_mut(parent).right = new;
    }
}

fn rotate_left<A: RbArena + ?Sized>(a: &mut A, root: &mut RbRoot, x: NodeId, augment: bool) {
    let y = a.rb(x).right;
    let yl = a.rb(y).left;
    a.rb_mut(x).right = yl;
    set_parent(a, yl, x);
    let xp = a.rb(x).parent;
    a.rb_mut(y).parent = xp;
    change_child(a, root, xp, x, y);
    a.rb_mut(y).left = x;
    a.rb_mut(x).parent = y;
    if augment {
        // The subtree now under y is the one that was under x: recompute the lower node, then the upper.
        recompute(a, x);
        recompute(a, y);
    }
}

fn rotate_right<A: RbArena + ?Sized>(a: &mut A, root: &mut RbRoot, x: NodeId, augment: bool) {
    let y = a.rb(x).left;
    let yr = a.rb(y).right;
    a.rb_mut(x).left = yr;
    set_parent(a, yr, x);
    let xp = a.rb(x).parent;
    a.rb_mut(y).parent = xp;
    change_child(a, root, xp, x, y);
    a.rb_mut(y).right = x;
    a.rb_mut(x).parent = y;
    if augment {
        recompute(a, x);
        recompute(a, y);
    }
}

/// Links `n` as a new red leaf below `parent` (`rb_link_node()`): on the left if `left`, else on the right;
/// `parent == NIL` makes it the root. Does not rebalance: call [`insert_color`] next.
///
/// Context: any.
pub fn link_node<A: RbArena + ?Sized>(a: &mut A, root: &mut RbRoot, n: NodeId, parent: NodeId, left: bool) {
    *a.rb_mut(n) = RbNode { parent, left: NIL, right: NIL, color: Color::Red, linked: true };
    if parent == NIL {
        root.node = n;
    } else if left {
        a.rb_mut(parent).left = n;
    } else {
        a.rb_mut(parent).right = n;
    }
}

/// Rebalances after [`link_node`] (`rb_insert_color()` / `rb_insert_augmented()`). With `augment`, first makes
/// every ancestor account for the new node, then keeps the values exact through the rotations.
///
/// Context: any.
pub fn insert_color<A: RbArena + ?Sized>(a: &mut A, root: &mut RbRoot, mut n: NodeId, augment: bool) {
    if augment {
        let own = a.aug_own(n);
        a.aug_set(n, own);
        propagate(a, a.rb(n).parent, true);
    }
    loop {
        let p = a.rb(n).parent;
        if !is_red(a, p) {
            break;
        }
        let g = a.rb(p).parent; // a red node is never the root, so g exists
        if p == a.rb(g).left {
            let u = a.rb(g).right;
            if is_red(a, u) {
                set_color(a, p, Color::Black);
                set_color(a, u, Color::Black);
                set_color(a, g, Color::Red);
                n = g;
                continue;
            }
            let mut p = p;
            if n == a.rb(p).right {
                rotate_left(a, root, p, augment);
                n = p;
                p = a.rb(n).parent;
            }
            set_color(a, p, Color::Black);
            set_color(a, g, Color::Red);
            rotate_right(a, root, g, augment);
        } else {
            let u = a.rb(g).left;
            if is_red(a, u) {
                set_color(a, p, Color::Black);
                set_color(a, u, Color::Black);
                set_color(a, g, Color::Red);
                n = g;
                continue;
            }
            let mut p = p;
            if n == a.rb(p).left {
                rotate_right(a, root, p, augment);
                n = p;
                p = a.rb(n).parent;
            }
            set_color(a, p, Color::Black);
            set_color(a, g, Color::Red);
            rotate_left(a, root, g, augment);
        }
        break;
    }
    let r = root.node;
    set_color(a, r, Color::Black);
}

/// The leftmost node below `n` (inclusive).
///
/// Context: any.
pub fn leftmost<A: RbArena + ?Sized>(a: &A, mut n: NodeId) -> NodeId {
    if n == NIL {
        return NIL;
    }
    while a.rb(n).left != NIL {
        n = a.rb(n).left;
    }
    n
}

/// The rightmost node below `n` (inclusive).
///
/// Context: any.
pub fn rightmost<A: RbArena + ?Sized>(a: &A, mut n: NodeId) -> NodeId {
    if n == NIL {
        return NIL;
    }
    while a.rb(n).right != NIL {
        n = a.rb(n).right;
    }
    n
}

/// `rb_first()`.
///
/// Context: any.
pub fn first<A: RbArena + ?Sized>(a: &A, root: &RbRoot) -> NodeId {
    leftmost(a, root.node)
}

/// `rb_next()`: the in-order successor.
///
/// Context: any.
pub fn next<A: RbArena + ?Sized>(a: &A, n: NodeId) -> NodeId {
    if a.rb(n).right != NIL {
        return leftmost(a, a.rb(n).right);
    }
    let mut c = n;
    let mut p = a.rb(c).parent;
    while p != NIL && a.rb(p).right == c {
        c = p;
        p = a.rb(p).parent;
    }
    p
}

/// Removes `z` from the tree (`rb_erase()` / `rb_erase_augmented()`) and clears its links.
///
/// Context: any.
pub fn erase<A: RbArena + ?Sized>(a: &mut A, root: &mut RbRoot, z: NodeId, augment: bool) {
    let zn = *a.rb(z);
    let removed_color;
    let x; // the node that moved into the removed position (may be NIL)
    let x_parent;
    let low; // deepest node whose subtree lost a node
    if zn.left == NIL || zn.right == NIL {
        x = if zn.left == NIL { zn.right } else { zn.left };
        x_parent = zn.parent;
        removed_color = zn.color;
        change_child(a, root, zn.parent, z, x);
        set_parent(a, x, zn.parent);
        low = zn.parent;
    } else {
        let y = leftmost(a, zn.right);
        let yn = *a.rb(y);
        removed_color = yn.color;
        x = yn.right;
        if yn.parent == z {
            x_parent = y;
            low = y;
        } else {
            x_parent = yn.parent;
            low = yn.parent;
            // Take y out of its place.
            a.rb_mut(yn.parent).left = x;
            set_parent(a, x, yn.parent);
            a.rb_mut(y).right = zn.right;
            a.rb_mut(zn.right).parent = y;
        }
        // Put y where z was.
        change_child(a, root, zn.parent, z, y);
        a.rb_mut(y).parent = zn.parent;
        a.rb_mut(y).left = zn.left;
        a.rb_mut(zn.left).parent = y;
        a.rb_mut(y).color = zn.color;
    }
    *a.rb_mut(z) = RbNode::EMPTY;
    if augment {
        propagate(a, low, false);
    }
    if removed_color == Color::Black {
        erase_fixup(a, root, x, x_parent, augment);
    }
}

fn erase_fixup<A: RbArena + ?Sized>(a: &mut A, root: &mut RbRoot, mut x: NodeId, mut xp: NodeId, augment: bool) {
    while x != root.node && !is_red(a, x) {
        if xp == NIL {
            break;
        }
        if x == a.rb(xp).left {
            let mut w = a.rb(xp).right;
            if is_red(a, w) {
                set_color(a, w, Color::Black);
                set_color(a, xp, Color::Red);
                rotate_left(a, root, xp, augment);
                w = a.rb(xp).right;
            }
            if !is_red(a, a.rb(w).left) && !is_red(a, a.rb(w).right) {
                set_color(a, w, Color::Red);
                x = xp;
                xp = a.rb(x).parent;
            } else {
                if !is_red(a, a.rb(w).right) {
                    let wl = a.rb(w).left;
                    set_color(a, wl, Color::Black);
                    set_color(a, w, Color::Red);
                    rotate_right(a, root, w, augment);
                    w = a.rb(xp).right;
                }
                let c = a.rb(xp).color;
                set_color(a, w, c);
                set_color(a, xp, Color::Black);
                let wr = a.rb(w).right;
                set_color(a, wr, Color::Black);
                rotate_left(a, root, xp, augment);
                x = root.node;
                break;
            }
        } else {
            let mut w = a.rb(xp).left;
            if is_red(a, w) {
                set_color(a, w, Color::Black);
                set_color(a, xp, Color::Red);
                rotate_right(a, root, xp, augment);
                w = a.rb(xp).left;
            }
            if !is_red(a, a.rb(w).left) && !is_red(a, a.rb(w).right) {
                set_color(a, w, Color::Red);
                x = xp;
                xp = a.rb(x).parent;
            } else {
                if !is_red(a, a.rb(w).left) {
                    let wr = a.rb(w).right;
                    set_color(a, wr, Color::Black);
                    set_color(a, w, Color::Red);
                    rotate_left(a, root, w, augment);
                    w = a.rb(xp).left;
                }
                let c = a.rb(xp).color;
                set_color(a, w, c);
                set_color(a, xp, Color::Black);
                let wl = a.rb(w).left;
                set_color(a, wl, Color::Black);
                rotate_right(a, root, xp, augment);
                x = root.node;
                break;
            }
        }
    }
    set_color(a, x, Color::Black);
}

/// What [`check`] found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RbViolation {
    /// The root is red.
    RedRoot,
    /// A red node has a red child.
    RedRed(NodeId),
    /// Two paths from this node have different black heights.
    BlackHeight(NodeId),
    /// A child's parent link does not point back.
    BadParent(NodeId),
    /// The stored augmented value differs from the computed one.
    Augment { node: NodeId, stored: u64, computed: u64 },
    /// A node of the tree is not marked linked.
    NotLinked(NodeId),
}

/// Checks the red-black properties (and, with `augment`, every stored augmented value); returns the black
/// height and the number of nodes.
///
/// Context: any; O(n).
pub fn check<A: RbArena + ?Sized>(a: &A, root: &RbRoot, augment: bool) -> Result<(u32, usize), RbViolation> {
    if root.node == NIL {
        return Ok((0, 0));
    }
    if is_red(a, root.node) {
        return Err(RbViolation::RedRoot);
    }
    if a.rb(root.node).parent != NIL {
        return Err(RbViolation::BadParent(root.node));
    }
    // Iterative post-order: (node, state); results pushed on a value stack.
    let mut count = 0usize;
    let mut stack: Vec<(NodeId, bool)> = vec![(root.node, false)];
    let mut heights: Vec<u32> = Vec::new();
    while let Some((n, done)) = stack.pop() {
        if n == NIL {
            heights.push(0);
            continue;
        }
        if !done {
            let r = a.rb(n);
            if !r.linked {
                return Err(RbViolation::NotLinked(n));
            }
            for c in [r.left, r.right] {
                if c != NIL && a.rb(c).parent != n {
                    return Err(RbViolation::BadParent(c));
                }
                if c != NIL && r.color == Color::Red && a.rb(c).color == Color::Red {
                    return Err(RbViolation::RedRed(n));
                }
            }
            stack.push((n, true));
            stack.push((r.right, false));
            stack.push((r.left, false));
        } else {
            count += 1;
            let hl = heights.pop().unwrap_or(0);
            let hr = heights.pop().unwrap_or(0);
            // Pushed left first then right, so the right result is on top: (hr, hl) order is irrelevant.
            if hl != hr {
                return Err(RbViolation::BlackHeight(n));
            }
            if augment {
                let computed = aug_compute(a, n);
                if computed != a.aug_get(n) {
                    return Err(RbViolation::Augment { node: n, stored: a.aug_get(n), computed });
                }
            }
            heights.push(hl + u32::from(a.rb(n).color == Color::Black));
        }
    }
    Ok((heights.pop().unwrap_or(0), count))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test arena: key = own value, augmented = subtree max.
    #[derive(Default)]
    struct Arena {
        nodes: Vec<(RbNode, u64, u64)>,
    }
    impl RbArena for Arena {
        fn rb(&self, n: NodeId) -> &RbNode {
            &self.nodes[n as usize].0
        }
        fn rb_mut(&mut self, n: NodeId) -> &mut RbNode {
            &mut self.nodes[n as usize].0
        }
        fn aug_get(&self, n: NodeId) -> u64 {
            self.nodes[n as usize].2
        }
        fn aug_set(&mut self, n: NodeId, v: u64) {
            self.nodes[n as usize].2 = v;
        }
        fn aug_own(&self, n: NodeId) -> u64 {
            self.nodes[n as usize].1 % 1000
        }
    }
    fn insert(a: &mut Arena, root: &mut RbRoot, key: u64) -> NodeId {
        let id = a.nodes.len() as NodeId;
        a.nodes.push((RbNode::EMPTY, key, 0));
        let (mut p, mut left) = (NIL, false);
        let mut c = root.node;
        while c != NIL {
            p = c;
            left = key < a.nodes[c as usize].1;
            c = if left { a.rb(c).left } else { a.rb(c).right };
        }
        link_node(a, root, id, p, left);
        insert_color(a, root, id, true);
        id
    }

    #[test]
    fn insert_erase_keep_invariants() {
        let mut a = Arena::default();
        let mut root = RbRoot::default();
        let mut rng = crate::machine::SplitMix64(42);
        let mut ids = Vec::new();
        for _ in 0..2000 {
            let k = rng.next_u64() % 1_000_000;
            ids.push(insert(&mut a, &mut root, k));
            check(&a, &root, true).unwrap();
        }
        // In-order traversal is sorted.
        let mut n = first(&a, &root);
        let mut last = 0;
        let mut cnt = 0;
        while n != NIL {
            assert!(a.nodes[n as usize].1 >= last);
            last = a.nodes[n as usize].1;
            n = next(&a, n);
            cnt += 1;
        }
        assert_eq!(cnt, 2000);
        for (i, id) in ids.iter().enumerate() {
            if i % 3 != 0 {
                erase(&mut a, &mut root, *id, true);
                check(&a, &root, true).unwrap();
            }
        }
        assert_eq!(check(&a, &root, true).unwrap().1, 667);
        // Changing one node's own value and propagating early keeps the tree exact.
        let id = ids[0];
        a.nodes[id as usize].1 = a.nodes[id as usize].1 / 1000 * 1000 + 999;
        propagate(&mut a, id, true);
        check(&a, &root, true).unwrap();
        assert_eq!(aug_of(&a, root.node), 999);
    }
}
