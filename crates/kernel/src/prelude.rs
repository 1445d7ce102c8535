//! The `kernel` prelude (rust/kernel/prelude.rs): `use kernel::prelude::*;`.

#[doc(no_inline)]
pub use core::pin::Pin;

pub use crate::alloc::{flags::*, Box, KBox, KVBox, KVVec, KVec, VBox, VVec, Vec};

#[doc(no_inline)]
pub use crate::module;

pub use crate::{pr_alert, pr_crit, pr_debug, pr_emerg, pr_err, pr_info, pr_notice, pr_warn};

pub use crate::error::{code::*, Error, Result};

pub use crate::{str::CStr, ThisModule};

pub use crate::init::{InPlaceInit, InPlaceWrite, Init, PinInit};
