//! ImageNet16-120: downsampled ImageNet (16x16) restricted to its first 120 classes, as used
//! by NAS-Bench-201.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use rand::rngs::StdRng;

use crate::augment::PlanarRecipe;
use crate::batcher::ImageBatch;
use crate::dataset::{ImageDataset, Mode, check_indices};
use crate::error::{DataError, Result};
use crate::io;
use crate::pickle;
use crate::transform::{Augmentation, Normalization};

/// Height and width of an ImageNet16 image.
pub const IMAGENET16_SIZE: usize = 16;
/// Bytes in one ImageNet16 row: R, G and B planes of 16x16 (768).
pub const IMAGENET16_ROW_BYTES: usize = 3 * IMAGENET16_SIZE * IMAGENET16_SIZE;
/// Number of classes kept by ImageNet16-120.
pub const IMAGENET16_CLASSES: usize = 120;
/// Largest label of the full downsampled ImageNet (labels are 1-based, `1..=1000`).
pub const IMAGENET_LABELS: i64 = 1000;
/// The training batch files, in the order they are read.
pub const IMAGENET16_TRAIN_FILES: [&str; 10] = [
    "train_data_batch_1",
    "train_data_batch_2",
    "train_data_batch_3",
    "train_data_batch_4",
    "train_data_batch_5",
    "train_data_batch_6",
    "train_data_batch_7",
    "train_data_batch_8",
    "train_data_batch_9",
    "train_data_batch_10",
];
/// The validation file, split into the valid and test halves.
pub const IMAGENET16_VAL_FILE: &str = "val_data";
/// Crop padding of the NAS-Bench-201 ImageNet16 recipe.
pub const IMAGENET16_CROP_PADDING: usize = 2;

/// Which part of ImageNet16-120 to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageNet16Split {
    /// The ten training batches (151,700 images kept).
    Train,
    /// The valid half of `val_data` (3,000 images kept); see [`ImageNet16::valid_test_split`].
    Valid,
    /// The test half of `val_data` (3,000 images kept).
    Test,
    /// All of `val_data` (6,000 images kept).
    Val,
}

/// ImageNet16 images held in memory (about 117 MB for the training split).
#[derive(Clone)]
pub struct ImageNet16 {
    /// `len * 768` bytes, one planar row per image.
    images: Vec<u8>,
    /// Zero-based targets, `0..classes`.
    labels: Vec<usize>,
    classes: usize,
}

impl fmt::Debug for ImageNet16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageNet16")
            .field("len", &self.labels.len())
            .field("classes", &self.classes)
            .finish()
    }
}

impl ImageNet16 {
    /// Reads one split of ImageNet16-120 from a folder holding `train_data_batch_1` …
    /// `train_data_batch_10` and `val_data`.
    pub fn load(dir: impl AsRef<Path>, split: ImageNet16Split) -> Result<Self> {
        Self::load_classes(dir, split, IMAGENET16_CLASSES)
    }

    /// As [`ImageNet16::load`], keeping the classes `1..=classes` (ImageNet16-`classes`).
    pub fn load_classes(
        dir: impl AsRef<Path>,
        split: ImageNet16Split,
        classes: usize,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        io::check_folder(
            dir,
            "an ImageNet16 folder holding train_data_batch_1 … train_data_batch_10 and val_data",
        )?;
        let files: Vec<PathBuf> = match split {
            ImageNet16Split::Train => IMAGENET16_TRAIN_FILES.iter().map(|f| dir.join(f)).collect(),
            _ => vec![dir.join(IMAGENET16_VAL_FILE)],
        };
        let all = Self::from_files(&files, classes)?;
        let data = match split {
            ImageNet16Split::Train | ImageNet16Split::Val => all,
            ImageNet16Split::Valid => all.select(&all.valid_test_split().0)?,
            ImageNet16Split::Test => all.select(&all.valid_test_split().1)?,
        };
        log::debug!(
            "loaded {} ImageNet16-{classes} {split:?} images from {}",
            data.len(),
            dir.display()
        );
        Ok(data)
    }

    /// Reads the given pickled batches, in order, keeping the rows whose 1-based label `L`
    /// satisfies `1 <= L <= classes`, with target `L - 1`.
    ///
    /// A label outside `1..=1000` is an error ([`DataError::InvalidLabel`]), as is any file
    /// that is not a pickled dict with `data` (an `N x 768` numpy `uint8` array) and `labels`
    /// (a list of `N` ints).
    pub fn from_files(paths: &[PathBuf], classes: usize) -> Result<Self> {
        if paths.is_empty() {
            return Err(DataError::NoFiles);
        }
        let mut data = Self {
            images: Vec::new(),
            labels: Vec::new(),
            classes,
        };
        for path in paths {
            data.append(path)?;
        }
        Ok(data)
    }

    fn append(&mut self, path: &Path) -> Result<()> {
        let raw = pickle::read_batch(path, IMAGENET16_ROW_BYTES)?;
        let rows = raw.data.chunks_exact(IMAGENET16_ROW_BYTES);
        for (record, (&label, row)) in raw.labels.iter().zip(rows).enumerate() {
            if !(1..=IMAGENET_LABELS).contains(&label) {
                return Err(DataError::InvalidLabel {
                    path: path.to_path_buf(),
                    record,
                    label,
                    expected: format!("1..={IMAGENET_LABELS} (1-based ImageNet classes)"),
                });
            }
            let target = (label - 1) as usize;
            if target < self.classes {
                self.images.extend_from_slice(row);
                self.labels.push(target);
            }
        }
        Ok(())
    }

    /// The fixed split of this data (normally `val_data`) into valid and test halves.
    ///
    /// Within each class, images are taken in file order and dealt alternately: the 1st,
    /// 3rd, 5th, … go to valid, the 2nd, 4th, … to test. With the 50 validation images per
    /// class of ImageNet16-120 this gives 3,000/3,000 images, 25/25 per class. The split
    /// involves no random generator, so it is the same on every machine and version. (It is
    /// not the index list that NAS-Bench-201 ships; pass that list to
    /// [`ImageNet16::select`] to reproduce its numbers exactly.) Both halves are sorted.
    pub fn valid_test_split(&self) -> (Vec<usize>, Vec<usize>) {
        let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
        let (mut valid, mut test) = (Vec::new(), Vec::new());
        for (index, &label) in self.labels.iter().enumerate() {
            let count = seen.entry(label).or_insert(0);
            if count.is_multiple_of(2) {
                valid.push(index);
            } else {
                test.push(index);
            }
            *count += 1;
        }
        (valid, test)
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        check_indices(indices, self.labels.len())?;
        let mut images = Vec::with_capacity(indices.len() * IMAGENET16_ROW_BYTES);
        for &i in indices {
            images.extend_from_slice(self.row(i));
        }
        Ok(Self {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        })
    }

    /// The planar bytes of image `index` (R, G, B planes of 16x16), if it exists.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(IMAGENET16_ROW_BYTES)?;
        self.images.get(start..start + IMAGENET16_ROW_BYTES)
    }

    /// Zero-based targets, one per image.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The statistics a model should normalise these images with
    /// ([`Normalization::IMAGENET16`]).
    pub fn normalization(&self) -> Normalization {
        Normalization::IMAGENET16
    }

    fn row(&self, index: usize) -> &[u8] {
        self.image(index).unwrap_or(&[])
    }
}

/// ImageNet16 batches at 16x16. [`Mode::Train`] applies NAS-Bench-201's recipe: a random
/// 16x16 crop of the image zero-padded by 2, then a horizontal flip with probability 0.5.
impl ImageDataset for ImageNet16 {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn num_classes(&self) -> usize {
        self.classes
    }

    fn label(&self, index: usize) -> usize {
        self.labels.get(index).copied().unwrap_or(0)
    }

    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<ImageBatch<B>> {
        let recipe = PlanarRecipe {
            size: IMAGENET16_SIZE,
            augmentation: Augmentation {
                crop_padding: IMAGENET16_CROP_PADDING,
                horizontal_flip: true,
            },
            cutout: None,
            fill: Normalization::IMAGENET16.mean,
        };
        let item = |i: usize| (self.row(i), self.labels[i]);
        recipe.batch(self.labels.len(), item, indices, mode, rng, device)
    }
}
