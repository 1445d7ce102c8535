//! String types for the kernel (rust/kernel/str.rs): [`CStr`] and [`c_str!`](crate::c_str).

use core::fmt;

/// A string that is guaranteed to have exactly one `NUL` byte, which is at the end.
#[repr(transparent)]
pub struct CStr([u8]);

/// Possible errors when using conversion functions in [`CStr`].
#[derive(Debug, Clone, Copy)]
pub enum CStrConvertError {
    /// Supplied bytes contain an interior `NUL`.
    InteriorNul,
    /// Supplied bytes are not terminated by `NUL`.
    NotNulTerminated,
}

impl CStr {
    /// Returns the length of this string excluding `NUL`.
    pub const fn len(&self) -> usize {
        self.len_with_nul() - 1
    }

    /// Returns the length of this string with `NUL`.
    pub const fn len_with_nul(&self) -> usize {
        self.0.len()
    }

    /// Returns `true` if the string only includes `NUL`.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Creates a [`CStr`] from a `[u8]`: the bytes must end with the only `NUL`.
    pub const fn from_bytes_with_nul(bytes: &[u8]) -> Result<&Self, CStrConvertError> {
        if bytes.is_empty() || bytes[bytes.len() - 1] != 0 {
            return Err(CStrConvertError::NotNulTerminated);
        }
        let mut i = 0;
        while i + 1 < bytes.len() {
            if bytes[i] == 0 {
                return Err(CStrConvertError::InteriorNul);
            }
            i += 1;
        }
        // SAFETY: `CStr` is `repr(transparent)` over `[u8]`, and the invariant was just checked.
        Ok(unsafe { &*(bytes as *const [u8] as *const CStr) })
    }

    /// Wraps a raw C string pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid pointer to a `NUL`-terminated C string, and it must last at least `'a`. When
    /// `CStr` is alive, the memory pointed by `ptr` must not be mutated.
    pub unsafe fn from_char_ptr<'a>(ptr: *const crate::ffi::c_char) -> &'a Self {
        // SAFETY: the caller guarantees a NUL-terminated string that lives for `'a`.
        let bytes = unsafe { core::ffi::CStr::from_ptr(ptr.cast()) }.to_bytes_with_nul();
        // SAFETY: `CStr` is `repr(transparent)` over `[u8]`; the bytes end with their only NUL.
        unsafe { &*(bytes as *const [u8] as *const CStr) }
    }

    /// Returns a C pointer to the string.
    pub const fn as_char_ptr(&self) -> *const crate::ffi::c_char {
        self.0.as_ptr()
    }

    /// Convert the string to a byte slice without the trailing `NUL` byte.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..self.len()]
    }

    /// Convert the string to a byte slice containing the trailing `NUL` byte.
    pub const fn as_bytes_with_nul(&self) -> &[u8] {
        &self.0
    }

    /// Yields a [`&str`] slice if the [`CStr`] contains valid UTF-8.
    pub fn to_str(&self) -> Result<&str, core::str::Utf8Error> {
        core::str::from_utf8(self.as_bytes())
    }

    /// A `&'static CStr` for a `&'static str` known to hold no `NUL` (simulator use: error names).
    pub(crate) fn leak_static(s: &'static str) -> &'static CStr {
        let bytes: &'static [u8] = Box::leak(format!("{s}\0").into_bytes().into_boxed_slice());
        match CStr::from_bytes_with_nul(bytes) {
            Ok(c) => c,
            Err(_) => unreachable!("error names hold no NUL"),
        }
    }
}

impl fmt::Display for CStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &c in self.as_bytes() {
            if (0x20..0x7f).contains(&c) {
                f.write_fmt(format_args!("{}", c as char))?;
            } else {
                write!(f, "\\x{c:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &c in self.as_bytes() {
            match c {
                b'"' => f.write_str("\\\"")?,
                0x20..=0x7e => f.write_fmt(format_args!("{}", c as char))?,
                _ => write!(f, "\\x{c:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

/// Creates a new [`CStr`] from a string literal.
///
/// The string literal should not contain any `NUL` bytes.
#[macro_export]
macro_rules! c_str {
    ($str:expr) => {{
        const S: &str = concat!($str, "\0");
        const C: &$crate::str::CStr = match $crate::str::CStr::from_bytes_with_nul(S.as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("string contains interior NUL"),
        };
        C
    }};
}
