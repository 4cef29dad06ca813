//! CIFAR-10 for Burn: a loader for the official binary format, per-channel normalisation,
//! torchvision-style random crop and flip, seeded splits and a batcher that builds tensors.
//!
//! # The CIFAR-10 binary format
//!
//! A batch file is a headerless concatenation of 3073-byte records, nothing before the first
//! and nothing after the last. Each record is:
//!
//! | offset | bytes | content |
//! |---|---|---|
//! | 0 | 1 | label, `0..=9` (index into `batches.meta.txt`) |
//! | 1 | 1024 | red plane, 32x32, row-major (row 0 first, column 0 first) |
//! | 1025 | 1024 | green plane |
//! | 2049 | 1024 | blue plane |
//!
//! so pixel (channel `c`, row `y`, column `x`) of record `i` is byte
//! `i * 3073 + 1 + c * 1024 + y * 32 + x`: images are stored CHW, which is also the layout of
//! [`CifarItem::image`] and of the tensors made by [`CifarBatcher`].
//!
//! A folder is read in one of two layouts: the official one (`data_batch_1.bin` …
//! `data_batch_5.bin` for training, `test_batch.bin` for testing, 10,000 records each) or the
//! sample layout (`train.bin`, `test.bin`). An optional `batches.meta.txt` gives one class name
//! per line. A file whose size is not a multiple of 3073, an empty file, a label above 9, a
//! folder where a file belongs or a name file without exactly 10 names is reported as a
//! [`DataError`] naming the file and the defect; nothing panics.
//!
//! # Example
//!
//! ```no_run
//! use datasets::{Cifar10, CifarBatcher, Split, split_in_two};
//! use rand::{SeedableRng, rngs::StdRng};
//! # fn run<B: burn::tensor::backend::Backend>(device: &B::Device) -> datasets::Result<()> {
//! let train = Cifar10::load("datasets/cifar10-mini", Split::Train)?;
//! let (weights, arch) = split_in_two(train.len(), 0.5, 42);
//! let weights = train.select(&weights)?;
//! let batcher = CifarBatcher::train();
//! let mut rng = StdRng::seed_from_u64(7);
//! let items: Vec<_> = weights.items().iter().take(64).collect();
//! let batch = batcher.batch_with_rng::<B>(&items, &mut rng, device);
//! assert_eq!(batch.images.dims(), [64, 3, 32, 32]);
//! # let _ = arch; Ok(()) }
//! ```

mod batcher;
mod cifar;
mod error;
mod format;
mod io;
mod split;
mod transform;

pub use batcher::{CifarBatcher, ImageBatch};
pub use cifar::{Cifar10, CifarItem, Split};
pub use error::{DataError, Result};
pub use format::{
    CHANNELS, CLASS_NAMES, IMAGE_BYTES, IMAGE_SIZE, NUM_CLASSES, PLANE_BYTES, RECORD_BYTES,
};
pub use io::read_class_names;
pub use split::split_in_two;
pub use transform::{Augmentation, MAX_CROP_PADDING, Normalization, Placement};
