//! The CIFAR-10 dataset: items, splits and the in-memory dataset.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use burn::tensor::backend::Backend;

use crate::augment::{Cutout, PlanarRecipe};
use crate::batcher::ImageBatch;
use crate::dataset::{ImageDataset, Mode};
use crate::error::{DataError, Result};
use crate::format::{CLASS_NAMES, IMAGE_BYTES, IMAGE_SIZE, NUM_CLASSES};
use crate::io;
use crate::transform::{Augmentation, Normalization};

/// One CIFAR-10 image with its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CifarItem {
    /// `3 * 32 * 32` bytes in CHW order: the R plane, then G, then B, each row-major.
    pub image: Vec<u8>,
    /// Class index, `0..10`, into [`Cifar10::class_names`].
    pub label: usize,
}

/// Which half of CIFAR-10 to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training images (`data_batch_1.bin` … `data_batch_5.bin`, or `train.bin`).
    Train,
    /// The test images (`test_batch.bin`, or `test.bin`).
    Test,
}

/// CIFAR-10 images held in memory, with their class names.
#[derive(Clone)]
pub struct Cifar10 {
    items: Vec<CifarItem>,
    class_names: Vec<String>,
    cutout: Option<Cutout>,
}

impl fmt::Debug for Cifar10 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cifar10")
            .field("len", &self.items.len())
            .field("class_names", &self.class_names)
            .field("cutout", &self.cutout)
            .finish()
    }
}

impl Cifar10 {
    /// Reads one split from a folder in either layout.
    ///
    /// * official layout: `data_batch_1.bin` … `data_batch_5.bin` (train) and `test_batch.bin`
    ///   (test), as in the official `cifar-10-binary.tar.gz`;
    /// * sample layout: `train.bin` and `test.bin`.
    ///
    /// The official layout is chosen as soon as any of its files is present, and then all the
    /// files of the requested split must be there. `batches.meta.txt` is optional; when present
    /// it must list exactly 10 class names (empty lines are skipped). Without it the official
    /// names ([`CLASS_NAMES`]) are used.
    pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<Self> {
        let dir = dir.as_ref();
        io::check_dir(dir)?;
        let files = io::split_files(dir, split)?;
        let mut data = Self::from_files(&files)?;
        let meta = dir.join(io::META_FILE);
        if io::present(&meta) {
            data.class_names = io::read_class_names(&meta)?;
        }
        log::debug!(
            "loaded {} CIFAR-10 {split:?} items from {}",
            data.len(),
            dir.display()
        );
        Ok(data)
    }

    /// Reads and concatenates the records of the given batch files, in order.
    ///
    /// The class names are the official ones ([`CLASS_NAMES`]).
    pub fn from_files(paths: &[PathBuf]) -> Result<Self> {
        if paths.is_empty() {
            return Err(DataError::NoFiles);
        }
        let mut items = Vec::new();
        for path in paths {
            items.extend(io::read_records(path)?);
        }
        Ok(Self {
            items,
            class_names: default_names(),
            cutout: None,
        })
    }

    /// Builds a dataset from items already in memory, checking each one.
    ///
    /// Every image must hold exactly 3072 bytes and every label must index `class_names`.
    /// An empty `class_names` means the official names.
    pub fn from_items(items: Vec<CifarItem>, class_names: Vec<String>) -> Result<Self> {
        let class_names = if class_names.is_empty() {
            default_names()
        } else {
            class_names
        };
        for (index, item) in items.iter().enumerate() {
            check_item(index, item, class_names.len())?;
        }
        Ok(Self {
            items,
            class_names,
            cutout: None,
        })
    }

    /// The same data with cutout set for [`ImageDataset::batch`] in [`Mode::Train`] (off by
    /// default; [`Cutout::DARTS`] is the paper's 16 pixels). [`crate::CifarBatcher`] ignores it.
    pub fn with_cutout(mut self, cutout: Option<Cutout>) -> Self {
        self.cutout = cutout;
        self
    }

    /// The cutout setting used by [`ImageDataset::batch`].
    pub fn cutout(&self) -> Option<Cutout> {
        self.cutout
    }

    /// The statistics a model should normalise these images with ([`Normalization::CIFAR10`]).
    pub fn normalization(&self) -> Normalization {
        Normalization::CIFAR10
    }

    /// All items, in file order.
    pub fn items(&self) -> &[CifarItem] {
        &self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Class names, indexed by label.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of items of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for item in &self.items {
            if let Some(count) = counts.get_mut(item.label) {
                *count += 1;
            }
        }
        counts
    }

    /// A seeded, class-balanced random subset of `n` items (all items if `n >= len`).
    ///
    /// Each class is shuffled with a [`StdRng`] seeded from `seed`; items are then drawn from
    /// the classes in turn (in a seeded class order), so class counts differ by at most one
    /// unless a class runs out. The chosen items keep their original relative order. The same
    /// `seed` always gives the same subset.
    pub fn subset(&self, n: usize, seed: u64) -> Self {
        if n >= self.items.len() {
            return self.clone();
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pools = self.class_pools();
        for pool in pools.values_mut() {
            pool.shuffle(&mut rng);
        }
        let mut order: Vec<Vec<usize>> = pools.into_values().collect();
        order.shuffle(&mut rng);
        let mut chosen = round_robin(order, n);
        chosen.sort_unstable();
        self.pick(&chosen)
    }

    /// The items at `indices`, in that order (for example one half of [`crate::split_in_two`]).
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        let len = self.items.len();
        if let Some(&index) = indices.iter().find(|&&i| i >= len) {
            return Err(DataError::IndexOutOfRange { index, len });
        }
        Ok(self.pick(indices))
    }

    fn pick(&self, indices: &[usize]) -> Self {
        let items = indices
            .iter()
            .filter_map(|&i| self.items.get(i).cloned())
            .collect();
        Self {
            items,
            class_names: self.class_names.clone(),
            cutout: self.cutout,
        }
    }

    fn class_pools(&self) -> BTreeMap<usize, Vec<usize>> {
        let mut pools: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (index, item) in self.items.iter().enumerate() {
            pools.entry(item.label).or_default().push(index);
        }
        pools
    }
}

impl burn::data::dataset::Dataset<CifarItem> for Cifar10 {
    fn get(&self, index: usize) -> Option<CifarItem> {
        self.items.get(index).cloned()
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

/// CIFAR-10 batches at 32x32. [`Mode::Train`] applies the DARTS recipe: a random 32x32 crop
/// of the image zero-padded by 4, a horizontal flip with probability 0.5, then cutout if set
/// ([`Cifar10::with_cutout`]), filled with the CIFAR-10 mean.
impl ImageDataset for Cifar10 {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    fn label(&self, index: usize) -> usize {
        self.items.get(index).map_or(0, |item| item.label)
    }

    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<ImageBatch<B>> {
        let recipe = PlanarRecipe {
            size: IMAGE_SIZE,
            augmentation: Augmentation::STANDARD,
            cutout: self.cutout,
            fill: Normalization::CIFAR10.mean,
        };
        let item = |i: usize| {
            let item = &self.items[i];
            (item.image.as_slice(), item.label)
        };
        recipe.batch(self.items.len(), item, indices, mode, rng, device)
    }
}

/// Takes one index from each pool in turn until `n` are taken or all pools are empty.
fn round_robin(pools: Vec<Vec<usize>>, n: usize) -> Vec<usize> {
    let mut iters: Vec<_> = pools.into_iter().map(Vec::into_iter).collect();
    let mut chosen = Vec::with_capacity(n);
    while chosen.len() < n {
        let before = chosen.len();
        for it in iters.iter_mut() {
            if chosen.len() == n {
                break;
            }
            chosen.extend(it.next());
        }
        if chosen.len() == before {
            break;
        }
    }
    chosen
}

fn check_item(index: usize, item: &CifarItem, classes: usize) -> Result<()> {
    let reason = if item.image.len() != IMAGE_BYTES {
        format!(
            "image has {} bytes, expected {IMAGE_BYTES}",
            item.image.len()
        )
    } else if item.label >= classes {
        format!(
            "label {} is out of range (expected 0..{classes})",
            item.label
        )
    } else {
        return Ok(());
    };
    Err(DataError::InvalidItem { index, reason })
}

fn default_names() -> Vec<String> {
    debug_assert_eq!(CLASS_NAMES.len(), NUM_CLASSES);
    CLASS_NAMES.iter().map(|s| s.to_string()).collect()
}
