//! Kernel errors (rust/kernel/error.rs): [`Error`], the [`code`]s, and [`Result`].

use crate::alloc::AllocError;
use core::fmt;
use core::num::NonZeroI32;

/// Contains the C-compatible error codes.
pub mod code {
    macro_rules! declare_err {
        ($($err:ident = $num:expr, $doc:literal;)*) => {
            $(
                #[doc = $doc]
                pub const $err: super::Error = super::Error::from_errno_unchecked(-$num);
            )*
            pub(super) fn name(errno: i32) -> Option<&'static str> {
                match -errno {
                    $($num => Some(stringify!($err)),)*
                    _ => None,
                }
            }
        };
    }

    declare_err! {
        EPERM = 1, "Operation not permitted.";
        ENOENT = 2, "No such file or directory.";
        ESRCH = 3, "No such process.";
        EINTR = 4, "Interrupted system call.";
        EIO = 5, "I/O error.";
        ENXIO = 6, "No such device or address.";
        E2BIG = 7, "Argument list too long.";
        ENOEXEC = 8, "Exec format error.";
        EBADF = 9, "Bad file number.";
        ECHILD = 10, "No child processes.";
        EAGAIN = 11, "Try again.";
        ENOMEM = 12, "Out of memory.";
        EACCES = 13, "Permission denied.";
        EFAULT = 14, "Bad address.";
        ENOTBLK = 15, "Block device required.";
        EBUSY = 16, "Device or resource busy.";
        EEXIST = 17, "File exists.";
        EXDEV = 18, "Cross-device link.";
        ENODEV = 19, "No such device.";
        ENOTDIR = 20, "Not a directory.";
        EISDIR = 21, "Is a directory.";
        EINVAL = 22, "Invalid argument.";
        ENFILE = 23, "File table overflow.";
        EMFILE = 24, "Too many open files.";
        ENOTTY = 25, "Not a typewriter.";
        ETXTBSY = 26, "Text file busy.";
        EFBIG = 27, "File too large.";
        ENOSPC = 28, "No space left on device.";
        ESPIPE = 29, "Illegal seek.";
        EROFS = 30, "Read-only file system.";
        EMLINK = 31, "Too many links.";
        EPIPE = 32, "Broken pipe.";
        EDOM = 33, "Math argument out of domain of func.";
        ERANGE = 34, "Math result not representable.";
        EOVERFLOW = 75, "Value too large for defined data type.";
        ERESTARTSYS = 512, "Restart the system call.";
        ERESTARTNOINTR = 513, "System call was interrupted by a signal and will be restarted.";
        ERESTARTNOHAND = 514, "Restart if no handler.";
        ENOIOCTLCMD = 515, "No ioctl command.";
        ERESTART_RESTARTBLOCK = 516, "Restart by calling sys_restart_syscall.";
        EPROBE_DEFER = 517, "Driver requests probe retry.";
        EOPENSTALE = 518, "Open found a stale dentry.";
        ENOPARAM = 519, "Parameter not supported.";
        EBADHANDLE = 521, "Illegal NFS file handle.";
        ENOTSYNC = 522, "Update synchronization mismatch.";
        EBADCOOKIE = 523, "Cookie is stale.";
        ENOTSUPP = 524, "Operation is not supported.";
        ETOOSMALL = 525, "Buffer or request is too small.";
        ESERVERFAULT = 526, "An untranslatable error occurred.";
        EBADTYPE = 527, "Type not supported by server.";
        EJUKEBOX = 528, "Request initiated, but will not complete before timeout.";
        EIOCBQUEUED = 529, "iocb queued, will get completion event.";
        ERECALLCONFLICT = 530, "Conflict with recalled state.";
        ENOGRACE = 531, "NFS file lock reclaim refused.";
    }
}

/// Generic integer kernel error.
///
/// The kernel defines a set of integer generic error codes based on C and POSIX ones. These codes may
/// have a more specific meaning in some contexts.
///
/// # Invariants
///
/// The value is a valid `errno` (i.e. `>= -MAX_ERRNO && < 0`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error(NonZeroI32);

impl Error {
    /// Creates an [`Error`] from a kernel error code.
    ///
    /// It is a bug to pass an out-of-range `errno`. `EINVAL` would be returned in such a case.
    pub fn from_errno(errno: crate::ffi::c_int) -> Error {
        if !(-4095..0).contains(&errno) {
            return code::EINVAL;
        }
        Error::from_errno_unchecked(errno)
    }

    const fn from_errno_unchecked(errno: crate::ffi::c_int) -> Error {
        match NonZeroI32::new(errno) {
            Some(v) => Error(v),
            None => panic!("errno 0 is not an error"),
        }
    }

    /// Returns the kernel error code.
    pub fn to_errno(self) -> crate::ffi::c_int {
        self.0.get()
    }

    /// Returns the error encoded as a pointer (`ERR_PTR`).
    pub fn to_ptr<T>(self) -> *mut T {
        self.0.get() as isize as *mut T
    }

    /// Returns a string representing the error, if one exists.
    pub fn name(&self) -> Option<&'static crate::str::CStr> {
        code::name(self.0.get()).map(|n| crate::str::CStr::leak_static(n))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match code::name(self.0.get()) {
            None => f.debug_tuple("Error").field(&-self.0.get()).finish(),
            Some(name) => f.debug_tuple(name).finish(),
        }
    }
}

impl From<AllocError> for Error {
    fn from(_: AllocError) -> Error {
        code::ENOMEM
    }
}

impl From<core::convert::Infallible> for Error {
    fn from(e: core::convert::Infallible) -> Error {
        match e {}
    }
}

impl From<core::fmt::Error> for Error {
    fn from(_: core::fmt::Error) -> Error {
        code::EINVAL
    }
}

/// A [`Result`] with an [`Error`] error type.
pub type Result<T = (), E = Error> = core::result::Result<T, E>;

/// Converts an integer as returned by a C kernel function to an error if it's negative, and `Ok(())`
/// otherwise.
pub fn to_result(err: crate::ffi::c_int) -> Result {
    if err < 0 {
        Err(Error::from_errno(err))
    } else {
        Ok(())
    }
}

/// Transform a kernel "error pointer" to a normal pointer.
pub fn from_err_ptr<T>(ptr: *mut T) -> Result<*mut T> {
    let value = ptr as isize;
    if (-4095..0).contains(&value) {
        return Err(Error::from_errno(value as i32));
    }
    Ok(ptr)
}
