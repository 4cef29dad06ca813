//! The data sets a run reads, their settings and one type over all of them.

use anyhow::{Context, Result, bail};
use bionas::datasets::{
    Cifar10, Cifar100, Cutout, FolderTransform, ImageBatch, ImageDataset, ImageFolder, ImageNet16,
    ImageNet16Split, LabelKind, Mode, Normalization, Split,
};
use burn::tensor::backend::Backend;
use clap::ValueEnum;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The CIFAR-10 sample shipped with the repository.
pub const SAMPLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/cifar10-mini");

/// Smallest and largest side of an image-folder crop, in pixels.
const CROP_SIDES: std::ops::RangeInclusive<usize> = 8..=4096;

/// Evaluation resizes the shorter side to this multiple of the crop before the centre
/// crop (224 from 256, as ImageNet does).
const EVAL_RESIZE_RATIO: (usize, usize) = (8, 7);

/// Which data set, each in its original format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// CIFAR-10, binary layout (`data_batch_1.bin` ... or `train.bin`, `test.bin`).
    #[default]
    Cifar10,
    /// CIFAR-100, binary layout (`train.bin`, `test.bin`).
    Cifar100,
    /// ImageNet16-120 pickles (`train_data_batch_1..10`, `val_data`).
    Imagenet16,
    /// An ImageNet-style folder: `train/` and `val/`, one sub-folder per class.
    Folder,
}

impl DatasetKind {
    /// Whether it is CIFAR-10 or CIFAR-100 (the data sets that take cutout).
    pub fn is_cifar(self) -> bool {
        matches!(self, Self::Cifar10 | Self::Cifar100)
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::Imagenet16 => "imagenet16",
            Self::Folder => "folder",
        }
    }

    /// The per-channel statistics the network normalises its input with.
    pub fn normalization(self) -> Normalization {
        match self {
            Self::Cifar10 => Normalization::CIFAR10,
            Self::Cifar100 => Normalization::CIFAR100,
            Self::Imagenet16 => Normalization::IMAGENET16,
            Self::Folder => Normalization::IMAGENET,
        }
    }
}

/// Where the images come from and which of them train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSettings {
    /// The data set.
    pub dataset: DatasetKind,
    /// Its folder; `None` means the CIFAR-10 sample in `datasets/` (CIFAR-10 only).
    pub path: Option<PathBuf>,
    /// CIFAR-100 only: the 20 coarse labels instead of the 100 fine ones.
    pub coarse: bool,
    /// Image folder only: side of the training crops and of the evaluation centre crop
    /// (`None`: 224).
    pub crop: Option<usize>,
    /// CIFAR only: cutout length in pixels (0: off).
    pub cutout: usize,
    /// Use only this many training images (class-balanced, seeded), before the validation
    /// split; all if `None`.
    pub train_subset: Option<usize>,
    /// Share of the training images held out for model selection (data sets without a
    /// validation split of their own).
    pub valid_fraction: f64,
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::Cifar10,
            path: None,
            coarse: false,
            crop: None,
            cutout: 0,
            train_subset: None,
            valid_fraction: 0.1,
        }
    }
}

/// The training images, a validation set when the data set has its own, and the test set.
pub struct Loaded {
    /// Training images (cutout applied in training mode).
    pub train: AnyDataset,
    /// The data set's own validation split (ImageNet16-120), if any.
    pub valid: Option<AnyDataset>,
    /// The test images.
    pub test: AnyDataset,
}

impl DataSettings {
    /// Checks the settings that can be checked before reading anything.
    pub fn check(&self) -> Result<()> {
        if self.cutout > 0 && !self.dataset.is_cifar() {
            bail!("cutout applies to cifar10 and cifar100 only");
        }
        let folder = self.dataset == DatasetKind::Folder;
        if let Some(side) = self.crop
            && (!folder || !CROP_SIDES.contains(&side))
        {
            bail!("crop takes a side from 8 to 4096 pixels, with the folder data set");
        }
        if self.coarse && self.dataset != DatasetKind::Cifar100 {
            bail!("coarse labels apply to cifar100 only");
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 1.0) {
            bail!("valid_fraction must lie strictly between 0 and 1");
        }
        self.dir().map(drop)
    }

    /// The data folder: `path`, or the sample for CIFAR-10.
    pub fn dir(&self) -> Result<PathBuf> {
        match (&self.path, self.dataset) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, DatasetKind::Cifar10) => Ok(PathBuf::from(SAMPLE_DIR)),
            (None, kind) => bail!("a data folder (--data) is required for {}", kind.name()),
        }
    }

    /// Loads the training part (and the data set's own validation split).
    pub fn load_train(&self) -> Result<(AnyDataset, Option<AnyDataset>)> {
        let dir = self.dir()?;
        self.read_train(&dir).with_context(|| {
            let name = self.dataset.name();
            format!(
                "cannot load the {name} training images in {}",
                dir.display()
            )
        })
    }

    /// [`DataSettings::load_train`] from `dir`.
    fn read_train(&self, dir: &Path) -> Result<(AnyDataset, Option<AnyDataset>)> {
        let cutout = (self.cutout > 0).then_some(Cutout {
            length: self.cutout,
        });
        Ok(match self.dataset {
            DatasetKind::Cifar10 => {
                let train = Cifar10::load(dir, Split::Train)?.with_cutout(cutout);
                (AnyDataset::Cifar10(train), None)
            }
            DatasetKind::Cifar100 => {
                let train = Cifar100::load(dir, Split::Train, self.labels())?;
                (AnyDataset::Cifar100(train.with_cutout(cutout)), None)
            }
            DatasetKind::Imagenet16 => {
                let train = ImageNet16::load(dir, ImageNet16Split::Train)?;
                let valid = ImageNet16::load(dir, ImageNet16Split::Valid)?;
                let valid = Some(AnyDataset::ImageNet16(valid));
                (AnyDataset::ImageNet16(train), valid)
            }
            DatasetKind::Folder => (AnyDataset::Folder(self.folder(dir, "train")?), None),
        })
    }

    /// Loads the test part.
    pub fn load_test(&self) -> Result<AnyDataset> {
        let dir = self.dir()?;
        let test = match self.dataset {
            DatasetKind::Cifar10 => Cifar10::load(&dir, Split::Test).map(AnyDataset::Cifar10),
            DatasetKind::Cifar100 => {
                Cifar100::load(&dir, Split::Test, self.labels()).map(AnyDataset::Cifar100)
            }
            DatasetKind::Imagenet16 => {
                ImageNet16::load(&dir, ImageNet16Split::Test).map(AnyDataset::ImageNet16)
            }
            DatasetKind::Folder => return self.folder(&dir, "val").map(AnyDataset::Folder),
        };
        test.with_context(|| {
            let name = self.dataset.name();
            format!("cannot load the {name} test images in {}", dir.display())
        })
    }

    /// Loads every part and checks that their classes agree.
    pub fn load(&self) -> Result<Loaded> {
        let (train, valid) = self.load_train()?;
        let test = self.load_test()?;
        if let (AnyDataset::Folder(a), AnyDataset::Folder(b)) = (&train, &test)
            && a.class_names() != b.class_names()
        {
            bail!(
                "{} and {} hold different class folders: the labels would not match",
                a.root().display(),
                b.root().display()
            );
        }
        Ok(Loaded { train, valid, test })
    }

    /// The CIFAR-100 label kind.
    fn labels(&self) -> LabelKind {
        if self.coarse {
            LabelKind::Coarse
        } else {
            LabelKind::Fine
        }
    }

    /// The image folder `dir/part` with this run's transform.
    fn folder(&self, dir: &Path, part: &str) -> Result<ImageFolder> {
        let transform = match self.crop {
            Some(side) => {
                let (num, den) = EVAL_RESIZE_RATIO;
                FolderTransform::sized(side, side * num / den, side)
            }
            None => FolderTransform::IMAGENET,
        };
        let root = dir.join(part);
        let folder = ImageFolder::open(&root)
            .with_context(|| format!("cannot open the image folder {}", root.display()))?;
        folder
            .check_headers()
            .with_context(|| format!("a file in {} is not an image", root.display()))?;
        Ok(folder.with_transform(transform))
    }
}

/// Any of the supported data sets, as one type.
pub enum AnyDataset {
    /// CIFAR-10.
    Cifar10(Cifar10),
    /// CIFAR-100.
    Cifar100(Cifar100),
    /// ImageNet16-120.
    ImageNet16(ImageNet16),
    /// An image folder.
    Folder(ImageFolder),
}

/// Calls the same method on whichever data set `$data` holds.
macro_rules! each {
    ($data:expr, $d:ident => $call:expr) => {
        match $data {
            AnyDataset::Cifar10($d) => $call,
            AnyDataset::Cifar100($d) => $call,
            AnyDataset::ImageNet16($d) => $call,
            AnyDataset::Folder($d) => $call,
        }
    };
}

impl ImageDataset for AnyDataset {
    fn len(&self) -> usize {
        each!(self, d => d.len())
    }

    fn num_classes(&self) -> usize {
        each!(self, d => d.num_classes())
    }

    fn label(&self, index: usize) -> usize {
        each!(self, d => d.label(index))
    }

    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> bionas::datasets::Result<ImageBatch<B>> {
        each!(self, d => d.batch(indices, mode, rng, device))
    }
}
