//! The settings of a retraining (what `train --config` reads and `--print-config` shows),
//! its presets, and the record a run folder keeps so that `eval` and `attack` can rebuild
//! the network.

use anyhow::{Context, Result};
use bionas::bio_rules::LearningRule;
use bionas::nas::TrainConfig;
use bionas::search_space::{Genotype, NetworkConfig, StemKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::config::Preset;
use crate::data::{DataSettings, DatasetKind};
use crate::genotype;

/// Cutout length of the paper's CIFAR recipe, in pixels.
const PAPER_CUTOUT: usize = 16;

/// Epochs and batch size of the quick preset.
const QUICK_EPOCHS_BATCH: (usize, usize) = (10, 32);

/// The network's shape apart from the genotype (the stem, classes and normalisation follow
/// from the data set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSettings {
    /// Initial channels `C` (quick 8; paper 36, ImageNet 48).
    pub channels: usize,
    /// Cells (quick 5; paper 20, ImageNet 14).
    pub cells: usize,
    /// Rule of the stem, cell preprocessing, stride-2 skips, classifier and auxiliary head
    /// (default BP, as in the paper's code).
    pub skeleton_rule: LearningRule,
    /// Auxiliary head (quick off, paper on); its loss weight is `train.auxiliary_weight`.
    pub auxiliary: bool,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            channels: 8,
            cells: 5,
            skeleton_rule: LearningRule::Bp,
            auxiliary: false,
        }
    }
}

/// Every setting of a retraining.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSetup {
    /// The genotype: `biodarts`, `darts_v2`, or a JSON or DARTS-form file.
    pub genotype: String,
    /// Put every convolution of the cells on this rule (a single-rule baseline).
    pub rule: Option<LearningRule>,
    /// The network's shape.
    pub network: NetworkSettings,
    /// The images.
    pub data: DataSettings,
    /// The training recipe; its seed also draws the weights and the validation split.
    pub train: TrainConfig,
}

impl TrainSetup {
    /// The settings of `preset` on `dataset`: quick is C=8, 5 cells, batch 32, 10 epochs,
    /// no auxiliary head, no cutout; paper is the paper's CIFAR recipe (C=36, 20 cells,
    /// auxiliary head, cutout 16 on CIFAR) or, on an image folder, its ImageNet one (C=48,
    /// 14 cells).
    pub fn preset(preset: Preset, dataset: DatasetKind) -> Self {
        let imagenet = dataset == DatasetKind::Folder;
        let paper = preset == Preset::Paper;
        let mut train = match (paper, imagenet) {
            (true, true) => TrainConfig::imagenet(),
            _ => TrainConfig::cifar(),
        };
        if !paper {
            (train.epochs, train.batch_size) = QUICK_EPOCHS_BATCH;
        }
        let (channels, cells) = match (paper, imagenet) {
            (true, true) => (48, 14),
            (true, false) => (36, 20),
            (false, _) => (8, 5),
        };
        let network = NetworkSettings {
            channels,
            cells,
            auxiliary: paper,
            ..NetworkSettings::default()
        };
        let cutout = if paper && dataset.is_cifar() {
            PAPER_CUTOUT
        } else {
            0
        };
        let data = DataSettings {
            dataset,
            cutout,
            ..DataSettings::default()
        };
        Self {
            genotype: "biodarts".to_string(),
            rule: None,
            network,
            data,
            train,
        }
    }

    /// The genotype, with `rule` applied.
    pub fn genotype(&self) -> Result<Genotype> {
        let genotype = genotype::resolve(&self.genotype)?;
        Ok(match self.rule {
            Some(rule) => genotype.with_rule(rule),
            None => genotype,
        })
    }

    /// Checks every setting before any data is read.
    pub fn check(&self) -> Result<()> {
        self.data.check()?;
        self.genotype()?;
        self.train.validate().context("invalid training settings")?;
        anyhow::ensure!(self.network.channels > 0, "channels must be at least 1");
        anyhow::ensure!(self.network.cells >= 3, "cells must be at least 3");
        Ok(())
    }

    /// The final network's configuration for `genotype` and `classes` classes.
    pub fn network_config(&self, genotype: Genotype, classes: usize) -> NetworkConfig {
        let norm = self.data.dataset.normalization();
        let stem = match self.data.dataset {
            DatasetKind::Folder => StemKind::ImageNet,
            _ => StemKind::Cifar,
        };
        NetworkConfig::new(genotype)
            .with_channels(self.network.channels)
            .with_layers(self.network.cells)
            .with_classes(classes)
            .with_stem(stem)
            .with_skeleton_rule(self.network.skeleton_rule)
            .with_auxiliary(self.network.auxiliary)
            .with_mean(norm.mean)
            .with_std(norm.std)
    }
}

/// How many images each split of a run held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCounts {
    /// Training images.
    pub train: usize,
    /// Validation images (model selection).
    pub valid: usize,
    /// Test images.
    pub test: usize,
}

/// What a run folder of `bionas train` records in `config.json`: the settings (the data
/// folder made absolute), the exact network configuration (genotype included) and the
/// split sizes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainRecord {
    /// The settings of the run.
    pub setup: TrainSetup,
    /// The network that was trained.
    pub network: NetworkConfig,
    /// The split sizes.
    pub images: ImageCounts,
}

impl TrainRecord {
    /// The record's file in a run folder.
    pub const FILE: &str = "config.json";

    /// Reads the record of the run folder `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: is {} a run folder of `bionas train`?",
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not the record of a `bionas train` run",
                path.display()
            )
        })
    }
}
