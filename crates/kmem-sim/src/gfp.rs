//! GFP flags as in include/linux/gfp_types.h and include/linux/gfp.h (printing: include/trace/events/mmflags.h,
//! lib/vsprintf.c `%pGg`).
//!
//! The bit values are those of an x86 6.12 kernel without `CONFIG_KASAN_HW_TAGS`, `CONFIG_LOCKDEP` and
//! `CONFIG_SLAB_OBJ_EXT` (so `__GFP_SKIP_ZERO`, `__GFP_SKIP_KASAN`, `__GFP_NOLOCKDEP` and `__GFP_NO_OBJ_EXT` are 0).

#![forbid(unsafe_code)]

use std::fmt;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not};

use crate::zone::ZoneType;

/// A `gfp_t` mask.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Gfp(pub u32);

#[allow(non_upper_case_globals)]
impl Gfp {
    /// No flag at all.
    pub const NONE: Gfp = Gfp(0);
    pub const __GFP_DMA: Gfp = Gfp(0x1);
    pub const __GFP_HIGHMEM: Gfp = Gfp(0x2);
    pub const __GFP_DMA32: Gfp = Gfp(0x4);
    pub const __GFP_MOVABLE: Gfp = Gfp(0x8);
    pub const __GFP_RECLAIMABLE: Gfp = Gfp(0x10);
    pub const __GFP_HIGH: Gfp = Gfp(0x20);
    pub const __GFP_IO: Gfp = Gfp(0x40);
    pub const __GFP_FS: Gfp = Gfp(0x80);
    pub const __GFP_ZERO: Gfp = Gfp(0x100);
    // 0x200 is unused in 6.12 (___GFP_UNUSED_BIT).
    pub const __GFP_DIRECT_RECLAIM: Gfp = Gfp(0x400);
    pub const __GFP_KSWAPD_RECLAIM: Gfp = Gfp(0x800);
    pub const __GFP_WRITE: Gfp = Gfp(0x1000);
    pub const __GFP_NOWARN: Gfp = Gfp(0x2000);
    pub const __GFP_RETRY_MAYFAIL: Gfp = Gfp(0x4000);
    pub const __GFP_NOFAIL: Gfp = Gfp(0x8000);
    pub const __GFP_NORETRY: Gfp = Gfp(0x10000);
    pub const __GFP_MEMALLOC: Gfp = Gfp(0x20000);
    pub const __GFP_COMP: Gfp = Gfp(0x40000);
    pub const __GFP_NOMEMALLOC: Gfp = Gfp(0x80000);
    pub const __GFP_HARDWALL: Gfp = Gfp(0x100000);
    pub const __GFP_THISNODE: Gfp = Gfp(0x200000);
    pub const __GFP_ACCOUNT: Gfp = Gfp(0x400000);
    pub const __GFP_ZEROTAGS: Gfp = Gfp(0x800000);
    /// 0 without `CONFIG_KASAN_HW_TAGS`.
    pub const __GFP_SKIP_ZERO: Gfp = Gfp(0);
    /// 0 without `CONFIG_KASAN_HW_TAGS`.
    pub const __GFP_SKIP_KASAN: Gfp = Gfp(0);
    /// 0 without `CONFIG_LOCKDEP`.
    pub const __GFP_NOLOCKDEP: Gfp = Gfp(0);
    /// 0 without `CONFIG_SLAB_OBJ_EXT`.
    pub const __GFP_NO_OBJ_EXT: Gfp = Gfp(0);

    pub const __GFP_RECLAIM: Gfp = Gfp(0x400 | 0x800);
    pub const GFP_ZONEMASK: Gfp = Gfp(0x1 | 0x2 | 0x4 | 0x8);
    pub const GFP_MOVABLE_MASK: Gfp = Gfp(0x10 | 0x8);
    pub const __GFP_BITS_SHIFT: u32 = 24;
    pub const __GFP_BITS_MASK: Gfp = Gfp((1 << 24) - 1);

    pub const GFP_ATOMIC: Gfp = Gfp(Self::__GFP_HIGH.0 | Self::__GFP_KSWAPD_RECLAIM.0);
    pub const GFP_KERNEL: Gfp = Gfp(Self::__GFP_RECLAIM.0 | Self::__GFP_IO.0 | Self::__GFP_FS.0);
    pub const GFP_KERNEL_ACCOUNT: Gfp = Gfp(Self::GFP_KERNEL.0 | Self::__GFP_ACCOUNT.0);
    pub const GFP_NOWAIT: Gfp = Gfp(Self::__GFP_KSWAPD_RECLAIM.0 | Self::__GFP_NOWARN.0);
    pub const GFP_NOIO: Gfp = Self::__GFP_RECLAIM;
    pub const GFP_NOFS: Gfp = Gfp(Self::__GFP_RECLAIM.0 | Self::__GFP_IO.0);
    pub const GFP_USER: Gfp = Gfp(Self::GFP_KERNEL.0 | Self::__GFP_HARDWALL.0);
    pub const GFP_DMA: Gfp = Self::__GFP_DMA;
    pub const GFP_DMA32: Gfp = Self::__GFP_DMA32;
    pub const GFP_HIGHUSER: Gfp = Gfp(Self::GFP_USER.0 | Self::__GFP_HIGHMEM.0);
    pub const GFP_HIGHUSER_MOVABLE: Gfp = Gfp(Self::GFP_HIGHUSER.0 | Self::__GFP_MOVABLE.0 | Self::__GFP_SKIP_KASAN.0);
    pub const GFP_TRANSHUGE_LIGHT: Gfp =
        Gfp((Self::GFP_HIGHUSER_MOVABLE.0 | Self::__GFP_COMP.0 | Self::__GFP_NOMEMALLOC.0 | Self::__GFP_NOWARN.0)
            & !Self::__GFP_RECLAIM.0);
    pub const GFP_TRANSHUGE: Gfp = Gfp(Self::GFP_TRANSHUGE_LIGHT.0 | Self::__GFP_DIRECT_RECLAIM.0);

    /// The raw value.
    ///
    /// Context: any.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    ///
    /// Context: any.
    pub const fn contains(self, other: Gfp) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Whether any bit of `other` is set.
    ///
    /// Context: any.
    pub const fn intersects(self, other: Gfp) -> bool {
        self.0 & other.0 != 0
    }

    /// `gfpflags_allow_blocking()`: the request may sleep iff it has `__GFP_DIRECT_RECLAIM`.
    ///
    /// Context: any.
    pub const fn gfpflags_allow_blocking(self) -> bool {
        self.0 & Self::__GFP_DIRECT_RECLAIM.0 != 0
    }

    /// `gfp_zone()` for this mask on a machine with or without `ZONE_HIGHMEM`; `Err` for the combinations the
    /// kernel's `GFP_ZONE_BAD` table rejects (`VM_BUG_ON` there; two of DMA/DMA32/HIGHMEM, or MOVABLE with DMA or
    /// DMA32 ... see the table).
    ///
    /// Context: any.
    pub fn gfp_zone(self, has_highmem: bool, has_dma32: bool) -> Result<ZoneType, GfpZoneError> {
        gfp_zone(self, has_highmem, has_dma32)
    }

    /// `gfp_migratetype()`: the migrate type a request with this mask allocates from.
    ///
    /// Context: any.
    pub fn migratetype(self) -> crate::zone::MigrateType {
        use crate::zone::MigrateType;
        match (self.0 & Self::GFP_MOVABLE_MASK.0) >> 3 {
            0 => MigrateType::Unmovable,
            1 => MigrateType::Movable,
            2 => MigrateType::Reclaimable,
            // Both bits: the kernel's VM_WARN_ON; treat as movable like the bit arithmetic would give
            // MIGRATE_HIGHATOMIC (3), which is never a valid request type.
            _ => MigrateType::HighAtomic,
        }
    }
}

/// An invalid zone modifier combination (`GFP_ZONE_BAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GfpZoneError(pub Gfp);

impl fmt::Display for GfpZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid zone modifiers in gfp mask {}", self.0)
    }
}
impl std::error::Error for GfpZoneError {}

/// `gfp_zone()` (include/linux/gfp.h): the highest zone a request may use.
///
/// The table: none -> Normal; DMA -> DMA; HIGHMEM -> HighMem (Normal without highmem); DMA32 -> DMA32 (Normal
/// without ZONE_DMA32, as on 32-bit); MOVABLE -> Normal; MOVABLE|HIGHMEM -> Movable; MOVABLE|DMA -> DMA;
/// MOVABLE|DMA32 -> DMA32; all the rest are `GFP_ZONE_BAD`.
///
/// Context: any.
pub fn gfp_zone(gfp: Gfp, has_highmem: bool, has_dma32: bool) -> Result<ZoneType, GfpZoneError> {
    let bits = gfp.0 & Gfp::GFP_ZONEMASK.0;
    let highmem = if has_highmem { ZoneType::HighMem } else { ZoneType::Normal };
    let dma32 = if has_dma32 { ZoneType::Dma32 } else { ZoneType::Normal };
    Ok(match bits {
        0x0 => ZoneType::Normal,
        0x1 => ZoneType::Dma,
        0x2 => highmem,
        0x4 => dma32,
        0x8 => ZoneType::Normal,
        0x9 => ZoneType::Dma,
        0xa => ZoneType::Movable,
        0xc => dma32,
        _ => return Err(GfpZoneError(gfp)),
    })
}

/// The kernel's `__def_gfpflag_names` table, in its order (composites first).
pub const GFPFLAG_NAMES: &[(Gfp, &str)] = &[
    (Gfp::GFP_TRANSHUGE, "GFP_TRANSHUGE"),
    (Gfp::GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"),
    (Gfp::GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (Gfp::GFP_HIGHUSER, "GFP_HIGHUSER"),
    (Gfp::GFP_USER, "GFP_USER"),
    (Gfp::GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (Gfp::GFP_KERNEL, "GFP_KERNEL"),
    (Gfp::GFP_NOFS, "GFP_NOFS"),
    (Gfp::GFP_ATOMIC, "GFP_ATOMIC"),
    (Gfp::GFP_NOIO, "GFP_NOIO"),
    (Gfp::GFP_NOWAIT, "GFP_NOWAIT"),
    (Gfp::GFP_DMA, "GFP_DMA"),
    (Gfp::__GFP_HIGHMEM, "__GFP_HIGHMEM"),
    (Gfp::GFP_DMA32, "GFP_DMA32"),
    (Gfp::__GFP_HIGH, "__GFP_HIGH"),
    (Gfp::__GFP_IO, "__GFP_IO"),
    (Gfp::__GFP_FS, "__GFP_FS"),
    (Gfp::__GFP_NOWARN, "__GFP_NOWARN"),
    (Gfp::__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
    (Gfp::__GFP_NOFAIL, "__GFP_NOFAIL"),
    (Gfp::__GFP_NORETRY, "__GFP_NORETRY"),
    (Gfp::__GFP_COMP, "__GFP_COMP"),
    (Gfp::__GFP_ZERO, "__GFP_ZERO"),
    (Gfp::__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"),
    (Gfp::__GFP_MEMALLOC, "__GFP_MEMALLOC"),
    (Gfp::__GFP_HARDWALL, "__GFP_HARDWALL"),
    (Gfp::__GFP_THISNODE, "__GFP_THISNODE"),
    (Gfp::__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"),
    (Gfp::__GFP_MOVABLE, "__GFP_MOVABLE"),
    (Gfp::__GFP_ACCOUNT, "__GFP_ACCOUNT"),
    (Gfp::__GFP_WRITE, "__GFP_WRITE"),
    (Gfp::__GFP_RECLAIM, "__GFP_RECLAIM"),
    (Gfp::__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (Gfp::__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
    (Gfp::__GFP_ZEROTAGS, "__GFP_ZEROTAGS"),
];

/// `format_flags()` of lib/vsprintf.c with the gfp name table: the names only (what `%pGg` prints).
///
/// Context: any.
pub fn format_gfp_names(gfp: Gfp) -> String {
    let mut out = String::new();
    let mut flags = gfp.0;
    for &(mask, name) in GFPFLAG_NAMES {
        if flags == 0 {
            break;
        }
        if flags & mask.0 != mask.0 {
            continue;
        }
        out.push_str(name);
        flags &= !mask.0;
        if flags != 0 {
            out.push('|');
        }
    }
    if flags != 0 {
        out.push_str(&format!("{flags:#x}"));
    }
    out
}

/// Prints like the kernel's `"%#x(%pGg)"`, e.g. `0xcc0(GFP_KERNEL)`; `0` prints `0x0()`.
impl fmt::Display for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}({})", self.0, format_gfp_names(*self))
    }
}

impl fmt::Debug for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::LowerHex for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl BitOr for Gfp {
    type Output = Gfp;
    fn bitor(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 | rhs.0)
    }
}
impl BitOrAssign for Gfp {
    fn bitor_assign(&mut self, rhs: Gfp) {
        self.0 |= rhs.0;
    }
}
impl BitAnd for Gfp {
    type Output = Gfp;
    fn bitand(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 & rhs.0)
    }
}
impl BitAndAssign for Gfp {
    fn bitand_assign(&mut self, rhs: Gfp) {
        self.0 &= rhs.0;
    }
}
impl Not for Gfp {
    type Output = Gfp;
    fn not(self) -> Gfp {
        Gfp(!self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composites_have_kernel_values() {
        assert_eq!(Gfp::GFP_KERNEL.0, 0xcc0);
        assert_eq!(Gfp::GFP_ATOMIC.0, 0x820);
        assert_eq!(Gfp::GFP_NOWAIT.0, 0x2800);
        assert_eq!(Gfp::GFP_NOFS.0, 0xc40);
        assert_eq!(Gfp::GFP_USER.0, 0x100cc0);
        assert_eq!(Gfp::GFP_HIGHUSER_MOVABLE.0, 0x100cca);
        assert_eq!(Gfp::GFP_KERNEL_ACCOUNT.0, 0x400cc0);
        assert_eq!(Gfp::GFP_TRANSHUGE_LIGHT.0, 0x1c20ca);
        assert_eq!(Gfp::GFP_TRANSHUGE.0, 0x1c24ca);
    }

    #[test]
    fn display_like_pgg() {
        assert_eq!((Gfp::GFP_KERNEL | Gfp::__GFP_COMP).to_string(), "0x40cc0(GFP_KERNEL|__GFP_COMP)");
        assert_eq!((Gfp::GFP_KERNEL | Gfp::__GFP_ZERO).to_string(), "0xdc0(GFP_KERNEL|__GFP_ZERO)");
        assert_eq!((Gfp::GFP_ATOMIC | Gfp::__GFP_NOWARN).to_string(), "0x2820(GFP_ATOMIC|__GFP_NOWARN)");
        assert_eq!(Gfp::GFP_NOWAIT.to_string(), "0x2800(GFP_NOWAIT)");
        assert_eq!(Gfp(0).to_string(), "0x0()");
        assert_eq!(Gfp(0x200).to_string(), "0x200(0x200)");
        assert_eq!((Gfp::GFP_KERNEL | Gfp(0x200)).to_string(), "0xec0(GFP_KERNEL|0x200)");
        assert_eq!((Gfp::GFP_KERNEL | Gfp::__GFP_DMA).to_string(), "0xcc1(GFP_KERNEL|GFP_DMA)");
        assert_eq!(Gfp::GFP_HIGHUSER_MOVABLE.to_string(), "0x100cca(GFP_HIGHUSER_MOVABLE)");
        assert_eq!(Gfp::__GFP_DIRECT_RECLAIM.to_string(), "0x400(__GFP_DIRECT_RECLAIM)");
        assert_eq!(Gfp::GFP_NOIO.to_string(), "0xc00(GFP_NOIO)");
    }

    #[test]
    fn zones() {
        assert_eq!(gfp_zone(Gfp::GFP_KERNEL, false, true), Ok(ZoneType::Normal));
        assert_eq!(gfp_zone(Gfp::GFP_DMA, false, true), Ok(ZoneType::Dma));
        assert_eq!(gfp_zone(Gfp::GFP_DMA32, false, true), Ok(ZoneType::Dma32));
        assert_eq!(gfp_zone(Gfp::__GFP_HIGHMEM, true, false), Ok(ZoneType::HighMem));
        assert_eq!(gfp_zone(Gfp::__GFP_HIGHMEM, false, true), Ok(ZoneType::Normal));
        assert_eq!(gfp_zone(Gfp::GFP_HIGHUSER_MOVABLE, false, true), Ok(ZoneType::Movable));
        assert!(gfp_zone(Gfp::__GFP_DMA | Gfp::__GFP_DMA32, false, true).is_err());
        assert!(gfp_zone(Gfp::__GFP_DMA | Gfp::__GFP_HIGHMEM, true, false).is_err());
        assert!(!Gfp::GFP_ATOMIC.gfpflags_allow_blocking());
        assert!(Gfp::GFP_KERNEL.gfpflags_allow_blocking());
    }
}
