//! Image data sets for Burn: CIFAR-10, CIFAR-100, ImageNet16-120 and ImageNet-style image
//! folders, behind one interface ([`ImageDataset`]) that builds batches of pixel-space images
//! in `[0, 1]` (the model normalises internally, with the [`Normalization`] constants
//! `CIFAR10`, `CIFAR100`, `IMAGENET16` and `IMAGENET`). Also: per-channel normalisation,
//! torchvision-style augmentation, seeded and stratified splits ([`split_in_two`],
//! [`stratified_split`], [`Subset`]) and the original CIFAR-10 batcher ([`CifarBatcher`]).
//!
//! Every malformed input (missing or empty file, truncated record, label out of range, wrong
//! class-name file, a folder where a file belongs, a pickle of the wrong shape, a file that is
//! not an image, an empty image folder) is a [`DataError`] naming the file and the defect;
//! nothing panics.
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
//! # CIFAR-100 ([`Cifar100`])
//!
//! The official `cifar-100-binary` layout: `train.bin` and `test.bin`, headerless
//! concatenations of 3074-byte records, each a coarse label byte (`0..=19`), a fine label
//! byte (`0..=99`) and the 3072 image bytes in the CIFAR-10 CHW layout. The optional
//! `fine_label_names.txt` (100 names) and `coarse_label_names.txt` (20 names) give one name
//! per line. [`LabelKind`] chooses the fine or coarse label as the target.
//!
//! # ImageNet16-120 ([`ImageNet16`])
//!
//! The 16x16 downsampled ImageNet of Chrabaszcz et al. (2017): files `train_data_batch_1` …
//! `train_data_batch_10` and `val_data`, each a Python pickle (any protocol from 2 to 5, as
//! written by `pickle.dump` of a dict, Python 2 or 3) with `data`, a numpy `uint8` array of
//! shape `N x 768` (R, G and B planes of 16x16 per row), `labels`, a list of `N` 1-based
//! ints `1..=1000`, and possibly `mean` (ignored). Rows with label `L <= 120` are kept, with
//! target `L - 1`. The kept `val_data` images are split into fixed valid and test halves
//! (3,000/3,000, alternating within each class: see [`ImageNet16::valid_test_split`]).
//! Training batches use NAS-Bench-201's recipe: random crop with padding 2 and flips.
//!
//! # Image folders ([`ImageFolder`])
//!
//! The ImageNet layout `root/<class>/<image>.jpeg|jpg|png`, classes sorted by folder name.
//! Only paths are held; images are decoded (JPEG or PNG, recognised by content) when a batch
//! is built, on all cores. [`FolderTransform`] gives torchvision's ImageNet recipe at
//! configurable sizes: training = random-resized crop (scale 0.08–1, ratio 3/4–4/3, with the
//! 10-try fallback to a centre crop), horizontal flip and [`ColorJitter`] (brightness,
//! contrast, saturation 0.4; hue 0.1 optional); evaluation = resize the shorter side to 256
//! and crop the centre 224.
//!
//! # CIFAR augmentation
//!
//! [`ImageDataset::batch`] in [`Mode::Train`] applies the DARTS recipe to CIFAR-10 and
//! CIFAR-100: a random 32x32 crop of the image zero-padded by 4, a horizontal flip, and, when
//! set on the data set, [`Cutout`] (16 pixels in the paper) filled with the mean pixel so it is
//! 0 after normalisation.
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
//!
//! // The common interface: unnormalised images in [0, 1].
//! use datasets::{ImageDataset, Mode};
//! let batch = weights.batch::<B>(&[0, 1, 2], Mode::Train, &mut rng, device)?;
//! assert_eq!(batch.images.dims(), [3, 3, 32, 32]);
//! # let _ = arch; Ok(()) }
//! ```

mod augment;
mod batcher;
mod cifar;
mod cifar100;
mod dataset;
pub mod decode;
mod error;
mod folder;
mod format;
mod imagenet16;
mod imagenet_transform;
mod io;
mod pickle;
mod pickle_scan;
mod split;
mod transform;

pub use augment::Cutout;
pub use batcher::{CifarBatcher, ImageBatch};
pub use cifar::{Cifar10, CifarItem, Split};
pub use cifar100::{
    CIFAR100_COARSE_CLASSES, CIFAR100_COARSE_FILE, CIFAR100_COARSE_NAMES, CIFAR100_FINE_CLASSES,
    CIFAR100_FINE_FILE, CIFAR100_FINE_NAMES, CIFAR100_RECORD_BYTES, Cifar100, Cifar100Record,
    LabelKind,
};
pub use dataset::{ImageDataset, Mode, Subset, stratified_split};
pub use error::{DataError, Result};
pub use folder::{IMAGE_EXTENSIONS, ImageFolder};
pub use format::{
    CHANNELS, CLASS_NAMES, IMAGE_BYTES, IMAGE_SIZE, NUM_CLASSES, PLANE_BYTES, RECORD_BYTES,
};
pub use imagenet_transform::{ColorJitter, CropWindow, FolderTransform, random_resized_crop};
pub use imagenet16::{
    IMAGENET_LABELS, IMAGENET16_CLASSES, IMAGENET16_CROP_PADDING, IMAGENET16_ROW_BYTES,
    IMAGENET16_SIZE, IMAGENET16_TRAIN_FILES, IMAGENET16_VAL_FILE, ImageNet16, ImageNet16Split,
};
pub use io::read_class_names;
pub use pickle::PickledBatch;
pub use split::split_in_two;
pub use transform::{Augmentation, MAX_CROP_PADDING, Normalization, Placement};
