//! The parsers the loaders run on each file, for bytes already in memory.
//!
//! Every loader reads a file and hands its bytes to one of these; they are public for tools
//! that hold the bytes already (an archive member, a network buffer) and for fuzzing.
//! `origin` only names the bytes in errors. None of them panics, recurses without bound or
//! allocates much more than its input, whatever the bytes.

use std::path::Path;

use crate::cifar100::Cifar100Record;
use crate::error::Result;
use crate::{CifarItem, IMAGENET16_ROW_BYTES, PickledBatch};

/// The records of a CIFAR-10 binary batch (3,073 bytes each: label, then the image).
pub fn cifar10_records(bytes: &[u8], origin: &Path) -> Result<Vec<CifarItem>> {
    crate::io::parse_records(origin, bytes)
}

/// The records of a CIFAR-100 binary batch (3,074 bytes each: coarse label, fine label,
/// then the image).
pub fn cifar100_records(bytes: &[u8], origin: &Path) -> Result<Vec<Cifar100Record>> {
    crate::cifar100::parse_records(origin, bytes)
}

/// One pickled ImageNet16-120 batch: a dict with `data` (an `N × 768` numpy `uint8` array)
/// and `labels` (`N` ints, as stored: 1-based, not yet filtered by class).
pub fn imagenet16_batch(bytes: &[u8], origin: &Path) -> Result<PickledBatch> {
    crate::pickle::parse_batch(bytes, origin, IMAGENET16_ROW_BYTES)
}
