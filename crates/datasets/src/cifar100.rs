//! The CIFAR-100 dataset in the official binary layout: two label bytes per record.

use std::fmt;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use rand::rngs::StdRng;

use crate::augment::{Cutout, PlanarRecipe};
use crate::batcher::ImageBatch;
use crate::cifar::{CifarItem, Split};
use crate::dataset::{ImageDataset, Mode, check_indices};
use crate::error::{DataError, Result};
use crate::format::{IMAGE_BYTES, IMAGE_SIZE};
use crate::io;
use crate::transform::{Augmentation, Normalization};

/// Bytes in one CIFAR-100 record: coarse label, fine label, then the image (3074).
pub const CIFAR100_RECORD_BYTES: usize = 2 + IMAGE_BYTES;
/// Number of CIFAR-100 fine classes.
pub const CIFAR100_FINE_CLASSES: usize = 100;
/// Number of CIFAR-100 coarse classes (superclasses).
pub const CIFAR100_COARSE_CLASSES: usize = 20;
/// Name of the optional fine class-name file.
pub const CIFAR100_FINE_FILE: &str = "fine_label_names.txt";
/// Name of the optional coarse class-name file.
pub const CIFAR100_COARSE_FILE: &str = "coarse_label_names.txt";
const TRAIN_FILE: &str = "train.bin";
const TEST_FILE: &str = "test.bin";
const RECORD_FILE: &str = "a CIFAR-100 binary file (3074-byte records: coarse label, fine \
                           label, 3072 image bytes)";

/// The official CIFAR-100 fine class names, indexed by fine label (alphabetical).
pub const CIFAR100_FINE_NAMES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];
/// The official CIFAR-100 coarse class names, indexed by coarse label.
pub const CIFAR100_COARSE_NAMES: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

/// Which of the two CIFAR-100 labels serves as the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LabelKind {
    /// The 100 fine classes (offset 1 of each record).
    #[default]
    Fine,
    /// The 20 coarse classes, or superclasses (offset 0 of each record).
    Coarse,
}

impl LabelKind {
    /// Number of classes of this kind (100 or 20).
    pub fn num_classes(self) -> usize {
        match self {
            Self::Fine => CIFAR100_FINE_CLASSES,
            Self::Coarse => CIFAR100_COARSE_CLASSES,
        }
    }
}

/// One CIFAR-100 image with both its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cifar100Record {
    /// `3 * 32 * 32` bytes in CHW order: the R plane, then G, then B, each row-major.
    pub image: Vec<u8>,
    /// Coarse label, `0..20`.
    pub coarse: usize,
    /// Fine label, `0..100`.
    pub fine: usize,
}

impl Cifar100Record {
    /// The label of the given kind.
    pub fn label(&self, kind: LabelKind) -> usize {
        match kind {
            LabelKind::Fine => self.fine,
            LabelKind::Coarse => self.coarse,
        }
    }
}

/// CIFAR-100 images held in memory, with both label sets and their names.
#[derive(Clone)]
pub struct Cifar100 {
    records: Vec<Cifar100Record>,
    kind: LabelKind,
    fine_names: Vec<String>,
    coarse_names: Vec<String>,
    cutout: Option<Cutout>,
}

impl fmt::Debug for Cifar100 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cifar100")
            .field("len", &self.records.len())
            .field("kind", &self.kind)
            .field("cutout", &self.cutout)
            .finish()
    }
}

impl Cifar100 {
    /// Reads one split from a folder in the official layout (`train.bin`, `test.bin`, as in
    /// `cifar-100-binary.tar.gz`), with `kind` as the target label.
    ///
    /// `fine_label_names.txt` (100 names) and `coarse_label_names.txt` (20 names) are
    /// optional; empty lines are skipped. Without them the official names are used.
    pub fn load(dir: impl AsRef<Path>, split: Split, kind: LabelKind) -> Result<Self> {
        let dir = dir.as_ref();
        io::check_folder(dir, "a CIFAR-100 folder holding train.bin and test.bin")?;
        let file = match split {
            Split::Train => TRAIN_FILE,
            Split::Test => TEST_FILE,
        };
        let mut data = Self::from_files(&[dir.join(file)], kind)?;
        let fine = dir.join(CIFAR100_FINE_FILE);
        if io::present(&fine) {
            data.fine_names = io::read_names(&fine, CIFAR100_FINE_CLASSES)?;
        }
        let coarse = dir.join(CIFAR100_COARSE_FILE);
        if io::present(&coarse) {
            data.coarse_names = io::read_names(&coarse, CIFAR100_COARSE_CLASSES)?;
        }
        log::debug!(
            "loaded {} CIFAR-100 {split:?} items from {}",
            data.len(),
            dir.display()
        );
        Ok(data)
    }

    /// Reads and concatenates the records of the given files, in order, with the official
    /// class names.
    pub fn from_files(paths: &[PathBuf], kind: LabelKind) -> Result<Self> {
        if paths.is_empty() {
            return Err(DataError::NoFiles);
        }
        let mut records = Vec::new();
        for path in paths {
            let bytes = io::read_nonempty(path, RECORD_FILE)?;
            records.extend(parse_records(path, &bytes)?);
        }
        Ok(Self {
            records,
            kind,
            fine_names: owned(&CIFAR100_FINE_NAMES),
            coarse_names: owned(&CIFAR100_COARSE_NAMES),
            cutout: None,
        })
    }

    /// The same data with `kind` as the target label.
    pub fn with_label_kind(mut self, kind: LabelKind) -> Self {
        self.kind = kind;
        self
    }

    /// The target label kind.
    pub fn label_kind(&self) -> LabelKind {
        self.kind
    }

    /// The same data with cutout set for [`ImageDataset::batch`] in [`Mode::Train`] (off by
    /// default; [`Cutout::DARTS`] is the paper's 16 pixels).
    pub fn with_cutout(mut self, cutout: Option<Cutout>) -> Self {
        self.cutout = cutout;
        self
    }

    /// The cutout setting used by [`ImageDataset::batch`].
    pub fn cutout(&self) -> Option<Cutout> {
        self.cutout
    }

    /// The statistics a model should normalise these images with ([`Normalization::CIFAR100`]).
    pub fn normalization(&self) -> Normalization {
        Normalization::CIFAR100
    }

    /// All records, in file order.
    pub fn records(&self) -> &[Cifar100Record] {
        &self.records
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Names of the classes of the target kind, indexed by label.
    pub fn class_names(&self) -> &[String] {
        match self.kind {
            LabelKind::Fine => &self.fine_names,
            LabelKind::Coarse => &self.coarse_names,
        }
    }

    /// The 100 fine class names.
    pub fn fine_names(&self) -> &[String] {
        &self.fine_names
    }

    /// The 20 coarse class names.
    pub fn coarse_names(&self) -> &[String] {
        &self.coarse_names
    }

    /// The images as [`CifarItem`]s labelled with the target kind, for
    /// [`crate::CifarBatcher`] (pass a [`Normalization::CIFAR100`] batcher).
    pub fn to_items(&self) -> Vec<CifarItem> {
        self.records
            .iter()
            .map(|r| CifarItem {
                image: r.image.clone(),
                label: r.label(self.kind),
            })
            .collect()
    }

    /// The records at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        check_indices(indices, self.records.len())?;
        let records = indices.iter().map(|&i| self.records[i].clone()).collect();
        Ok(Self {
            records,
            ..self.clone_empty()
        })
    }

    fn clone_empty(&self) -> Self {
        Self {
            records: Vec::new(),
            kind: self.kind,
            fine_names: self.fine_names.clone(),
            coarse_names: self.coarse_names.clone(),
            cutout: self.cutout,
        }
    }
}

/// CIFAR-100 batches at 32x32, with the same DARTS recipe as CIFAR-10 in [`Mode::Train`]
/// (pad-4 random crop, flip, optional cutout filled with the CIFAR-100 mean).
impl ImageDataset for Cifar100 {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn num_classes(&self) -> usize {
        self.kind.num_classes()
    }

    fn label(&self, index: usize) -> usize {
        self.records.get(index).map_or(0, |r| r.label(self.kind))
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
            fill: Normalization::CIFAR100.mean,
        };
        let item = |i: usize| {
            let r = &self.records[i];
            (r.image.as_slice(), r.label(self.kind))
        };
        recipe.batch(self.records.len(), item, indices, mode, rng, device)
    }
}

/// Splits `bytes` into records, checking the size and both labels of every record.
pub(crate) fn parse_records(path: &Path, bytes: &[u8]) -> Result<Vec<Cifar100Record>> {
    if !bytes.len().is_multiple_of(CIFAR100_RECORD_BYTES) {
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            len: bytes.len(),
            record: CIFAR100_RECORD_BYTES,
        });
    }
    bytes
        .chunks_exact(CIFAR100_RECORD_BYTES)
        .enumerate()
        .map(|(record, chunk)| {
            let (coarse, fine) = (chunk[0], chunk[1]);
            check_label(path, record, "coarse", coarse, CIFAR100_COARSE_CLASSES)?;
            check_label(path, record, "fine", fine, CIFAR100_FINE_CLASSES)?;
            Ok(Cifar100Record {
                image: chunk[2..].to_vec(),
                coarse: usize::from(coarse),
                fine: usize::from(fine),
            })
        })
        .collect()
}

fn check_label(
    path: &Path,
    record: usize,
    field: &'static str,
    label: u8,
    classes: usize,
) -> Result<()> {
    if usize::from(label) < classes {
        return Ok(());
    }
    Err(DataError::Cifar100Label {
        path: path.to_path_buf(),
        record,
        field,
        label,
        classes,
    })
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}
