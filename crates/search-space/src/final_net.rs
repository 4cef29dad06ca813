//! The final network built from a genotype: CIFAR or ImageNet stem, cells, classifier,
//! optional auxiliary head, drop-path and normalisation of pixel-space input.

use bio_rules::{
    LearningRule, RuleBackend, RuleConv2d, RuleConv2dConfig, RuleHub, RuleLinear, RuleLinearConfig,
};
use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d};
use serde::{Deserialize, Serialize};

use crate::SpaceError;
use crate::cell::Cell;
use crate::genotype::Genotype;
use crate::network::{CellPlan, IMAGE_CHANNELS, Stem, chain_cells, global_average_pool};
use crate::{BatchNorm2d, BatchNorm2dConfig, NormMode};

/// How the network turns the image into the first cells' inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StemKind {
    /// One 3×3 convolution to `stem_multiplier · C` channels and a batch norm (CIFAR,
    /// full resolution).
    #[default]
    Cifar,
    /// Three 3×3 stride-2 convolutions (`C/2`, `C`, `C` channels): the older cell input
    /// after two, the newer after three, so the image shrinks eightfold (ImageNet).
    ImageNet,
}

/// Configuration of a final [`Network`] built from a genotype.
///
/// With `mean` and `std` set, the network takes images in pixel space `[0, 1]` and
/// normalises them itself, `(x - mean) / std` per channel, so attacks can work on pixels.
/// The defaults (0 and 1) take already normalised images.
#[derive(Config, Debug)]
pub struct NetworkConfig {
    /// The cells.
    pub genotype: Genotype,
    /// Initial channels `C` (paper: 36 on CIFAR, 48 on ImageNet).
    #[config(default = 36)]
    pub channels: usize,
    /// Number of cells (paper: 20 on CIFAR, 14 on ImageNet).
    #[config(default = 20)]
    pub layers: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub classes: usize,
    /// Stem width as a multiple of `C`, for the CIFAR stem (default 3).
    #[config(default = 3)]
    pub stem_multiplier: usize,
    /// The stem (default CIFAR).
    #[config(default = "StemKind::Cifar")]
    pub stem: StemKind,
    /// Rule of the stem, preprocessing, stride-2 skips, classifier and auxiliary head
    /// (default BP).
    #[config(default = "LearningRule::Bp")]
    pub skeleton_rule: LearningRule,
    /// Whether to add the auxiliary classifier after the cell at `2L/3` (default false).
    #[config(default = false)]
    pub auxiliary: bool,
    /// Per-channel mean subtracted from the input (default 0: no normalisation).
    #[config(default = "[0.0, 0.0, 0.0]")]
    pub mean: [f32; 3],
    /// Per-channel standard deviation dividing the input (default 1).
    #[config(default = "[1.0, 1.0, 1.0]")]
    pub std: [f32; 3],
}

/// The three-convolution ImageNet stem.
#[derive(Module, Debug)]
pub struct ImageNetStem<B: Backend> {
    /// 3 to `C/2` channels, stride 2.
    pub conv0: RuleConv2d<B>,
    /// Its batch norm.
    pub bn0: BatchNorm2d<B>,
    /// `C/2` to `C` channels, stride 2 (gives the older input).
    pub conv1: RuleConv2d<B>,
    /// Its batch norm.
    pub bn1: BatchNorm2d<B>,
    /// `C` to `C` channels, stride 2, after a ReLU (gives the newer input).
    pub conv2: RuleConv2d<B>,
    /// Its batch norm.
    pub bn2: BatchNorm2d<B>,
}

fn conv3x3_s2<B: RuleBackend>(
    channels: [usize; 2],
    rule: LearningRule,
    hub: RuleHub,
    device: &B::Device,
) -> RuleConv2d<B> {
    RuleConv2dConfig::new(channels, [3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_rule(rule)
        .init_with_hub(hub, device)
}

impl<B: RuleBackend> ImageNetStem<B> {
    fn new(channels: usize, rule: LearningRule, hub: RuleHub, device: &B::Device) -> Self {
        let half = channels / 2;
        let norm = |c| BatchNorm2dConfig::new(c).init(device);
        Self {
            conv0: conv3x3_s2([IMAGE_CHANNELS, half], rule, hub, device),
            bn0: norm(half),
            conv1: conv3x3_s2([half, channels], rule, hub, device),
            bn1: norm(channels),
            conv2: conv3x3_s2([channels, channels], rule, hub, device),
            bn2: norm(channels),
        }
    }

    /// The older and newer cell inputs.
    ///
    /// # Shapes
    /// `[batch, 3, h, w]` to `[batch, C, h/4, w/4]` and `[batch, C, h/8, w/8]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let x = relu(self.bn0.forward_mode(self.conv0.forward(x), mode));
        let s0 = self.bn1.forward_mode(self.conv1.forward(x), mode);
        let s1 = self
            .bn2
            .forward_mode(self.conv2.forward(relu(s0.clone())), mode);
        (s0, s1)
    }
}

/// The stem of a [`Network`].
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum NetworkStem<B: Backend> {
    /// One convolution (CIFAR).
    Cifar(Stem<B>),
    /// Three stride-2 convolutions (ImageNet).
    ImageNet(ImageNetStem<B>),
}

/// The auxiliary classifier of DARTS, on the output of the cell at `2L/3`: ReLU, 5×5
/// average pooling without padding (stride 3 on CIFAR, 2 on ImageNet), 1×1 convolution
/// to 128 channels, batch norm, ReLU, 2×2 convolution to 768 channels, batch norm (CIFAR
/// only: DARTS' ImageNet head has none there), ReLU, global average pooling (the identity
/// at CIFAR's 1×1 map) and a linear layer. On maps too small for that pooling to leave a
/// 2×2 map (small images, few cells), an adaptive average pooling to 2×2 takes its place.
#[derive(Module, Debug)]
pub struct AuxiliaryHead<B: Backend> {
    /// 1×1 convolution to 128 channels.
    pub conv1: RuleConv2d<B>,
    /// Its batch norm.
    pub bn1: BatchNorm2d<B>,
    /// 2×2 convolution to 768 channels.
    pub conv2: RuleConv2d<B>,
    /// Its batch norm (CIFAR head only).
    pub bn2: Option<BatchNorm2d<B>>,
    /// The classifier.
    pub classifier: RuleLinear<B>,
    /// Stride of the average pooling.
    #[module(skip)]
    pub pool_stride: usize,
}

impl<B: RuleBackend> AuxiliaryHead<B> {
    fn on(
        c_in: usize,
        classes: usize,
        stem: StemKind,
        (rule, hub): (LearningRule, RuleHub),
        device: &B::Device,
    ) -> Self {
        let conv = |c: [usize; 2], k: usize| {
            RuleConv2dConfig::new(c, [k, k])
                .with_rule(rule)
                .init_with_hub(hub, device)
        };
        Self {
            conv1: conv([c_in, 128], 1),
            bn1: BatchNorm2dConfig::new(128).init(device),
            conv2: conv([128, 768], 2),
            bn2: (stem == StemKind::Cifar).then(|| BatchNorm2dConfig::new(768).init(device)),
            classifier: RuleLinearConfig::new(768, classes)
                .with_rule(rule)
                .init_with_hub(hub, device),
            pool_stride: if stem == StemKind::ImageNet { 2 } else { 3 },
        }
    }

    /// Auxiliary logits.
    ///
    /// # Shapes
    /// `[batch, c_in, h, w]` to `[batch, classes]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 2> {
        let [_, _, h, w] = x.dims();
        // The 5×5 pooling leaves at least 2×2 from `5 + stride` pixels on.
        let fits = h.min(w) >= 5 + self.pool_stride;
        let x = if fits {
            let stride = [self.pool_stride; 2];
            avg_pool2d(relu(x), [5, 5], stride, [0, 0], false, false)
        } else {
            adaptive_avg_pool2d(relu(x), [2, 2])
        };
        let x = relu(self.bn1.forward_mode(self.conv1.forward(x), mode));
        let x = self.conv2.forward(x);
        let x = match &self.bn2 {
            Some(bn) => bn.forward_mode(x, mode),
            None => x,
        };
        let x = relu(x);
        self.classifier.forward(global_average_pool(x))
    }
}

/// A network of cells from a genotype, with affine batch norms.
#[derive(Module, Debug)]
pub struct Network<B: Backend> {
    /// The stem.
    pub stem: NetworkStem<B>,
    /// The cells.
    pub cells: Vec<Cell<B>>,
    /// The classifier after global average pooling.
    pub classifier: RuleLinear<B>,
    /// The auxiliary classifier, when configured.
    pub auxiliary: Option<AuxiliaryHead<B>>,
    /// Index of the cell whose output feeds the auxiliary head (`2L/3`).
    #[module(skip)]
    pub auxiliary_after: usize,
    /// `1 / std` and `-mean / std` per channel, when the network normalises its input.
    #[module(skip)]
    pub input_affine: Option<([f32; 3], [f32; 3])>,
    /// Links the rule layers to the output (DFA) and to the alignment probe.
    #[module(skip)]
    pub hub: RuleHub,
}

/// What a training forward pass returns.
#[derive(Debug, Clone)]
pub struct NetworkOutput<B: Backend> {
    /// Class logits, `[batch, classes]`.
    pub logits: Tensor<B, 2>,
    /// The auxiliary head's logits, when the network has one.
    pub auxiliary: Option<Tensor<B, 2>>,
}

impl NetworkConfig {
    /// Builds the network, or says what is wrong with the genotype or the sizes.
    pub fn init<B: RuleBackend>(&self, device: &B::Device) -> Result<Network<B>, SpaceError> {
        self.genotype.validate()?;
        self.check_sizes()?;
        let hub = RuleHub::new(self.classes);
        let genotype = &self.genotype;
        let cell_of = |reduction| {
            if reduction {
                &genotype.reduce
            } else {
                &genotype.normal
            }
        };
        let (stem, inputs, reduction_prev) = self.stem::<B>(hub, device);
        let plan = CellPlan {
            channels: self.channels,
            layers: self.layers,
            inputs,
            reduction_prev,
            search: false,
            skeleton_rule: self.skeleton_rule,
            hub,
        };
        let (specs, c_last) = plan.specs(|reduction| cell_of(reduction).concat.len());
        let auxiliary_after = 2 * self.layers / 3;
        let auxiliary = self.auxiliary.then(|| {
            let spec = &specs[auxiliary_after];
            let c_aux = cell_of(spec.reduction).concat.len() * spec.channels;
            let rules = (self.skeleton_rule, hub);
            AuxiliaryHead::on(c_aux, self.classes, self.stem, rules, device)
        });
        let cells = specs
            .into_iter()
            .map(|s| Cell::new(s, cell_of(s.reduction), device))
            .collect();
        Ok(Network {
            stem,
            cells,
            classifier: RuleLinearConfig::new(c_last, self.classes)
                .with_rule(self.skeleton_rule)
                .init_with_hub(hub, device),
            auxiliary,
            auxiliary_after,
            input_affine: self.input_affine(),
            hub,
        })
    }

    fn check_sizes(&self) -> Result<(), SpaceError> {
        let bad = |what: &str| Err(SpaceError::Size(what.to_string()));
        if self.channels == 0 || self.layers == 0 || self.classes == 0 {
            return bad("channels, layers and classes must be at least 1");
        }
        crate::error::check_scale(self.channels, self.layers, "layers")?;
        if self.stem == StemKind::ImageNet && self.channels < 2 {
            return bad("the ImageNet stem needs at least 2 channels");
        }
        if self.stem == StemKind::Cifar && self.stem_multiplier == 0 {
            return bad("stem_multiplier must be at least 1");
        }
        if self.auxiliary && self.layers < 3 {
            return bad("the auxiliary head needs at least 3 cells");
        }
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return bad("std must be positive and finite");
        }
        if self.mean.iter().any(|m| !m.is_finite()) {
            return bad("mean must be finite");
        }
        Ok(())
    }

    /// The stem, the channels of its two outputs and whether the older one is at twice
    /// the newer's resolution.
    fn stem<B: RuleBackend>(
        &self,
        hub: RuleHub,
        device: &B::Device,
    ) -> (NetworkStem<B>, (usize, usize), bool) {
        let rule = self.skeleton_rule;
        match self.stem {
            StemKind::Cifar => {
                let c = self.stem_multiplier * self.channels;
                let stem = Stem::new(c, rule, hub, device);
                (NetworkStem::Cifar(stem), (c, c), false)
            }
            StemKind::ImageNet => {
                let c = self.channels;
                let stem = ImageNetStem::new(c, rule, hub, device);
                (NetworkStem::ImageNet(stem), (c, c), true)
            }
        }
    }

    fn input_affine(&self) -> Option<([f32; 3], [f32; 3])> {
        if self.mean == [0.0; 3] && self.std == [1.0; 3] {
            return None;
        }
        let scale = self.std.map(f32::recip);
        let shift = [0, 1, 2].map(|c| -self.mean[c] / self.std[c]);
        Some((scale, shift))
    }
}

impl<B: RuleBackend> Network<B> {
    /// Class logits, batch norms in [`NormMode::Auto`], no drop-path; the auxiliary head
    /// is not run.
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.run(images, NormMode::Auto, 0.0).logits
    }

    /// A training pass: batch statistics, drop-path with probability `drop_prob` on every
    /// operation but the identity, and the auxiliary logits when there is a head.
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - logits: `[batch, classes]`
    pub fn forward_train(&self, images: Tensor<B, 4>, drop_prob: f64) -> NetworkOutput<B> {
        self.run(images, NormMode::Batch, drop_prob)
    }

    /// An evaluation pass on any backend: running batch-norm statistics (left unchanged),
    /// no drop-path; gradients still flow to the input, for attacks.
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - output: `[batch, classes]`
    pub fn forward_eval(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.run(images, NormMode::Running, 0.0).logits
    }

    fn run(&self, images: Tensor<B, 4>, mode: NormMode, drop_prob: f64) -> NetworkOutput<B> {
        crate::join_parameter_graphs(self);
        let images = self.normalise(images);
        let (s0, s1) = match &self.stem {
            NetworkStem::Cifar(stem) => {
                let s = stem.forward(images, mode);
                (s.clone(), s)
            }
            NetworkStem::ImageNet(stem) => stem.forward(images, mode),
        };
        let train_aux = mode == NormMode::Batch;
        let mut auxiliary = None;
        let mut index = 0;
        let out = chain_cells(s0, s1, &self.cells, |cell, s0, s1| {
            let out = cell.forward_with(s0, s1, mode, drop_prob);
            let head = self.auxiliary.as_ref().filter(|_| train_aux);
            if let Some(head) = head.filter(|_| index == self.auxiliary_after) {
                auxiliary = Some(head.forward(out.clone(), mode));
            }
            index += 1;
            out
        });
        let logits = self
            .hub
            .tap(self.classifier.forward(global_average_pool(out)));
        NetworkOutput { logits, auxiliary }
    }

    /// `x · (1 / std) + (-mean / std)` per channel, as rows of `3·h·w` values so the
    /// per-channel factors broadcast along the batch axis only.
    fn normalise(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        let Some((scale, shift)) = self.input_affine else {
            return images;
        };
        let [n, c, h, w] = images.dims();
        let device = images.device();
        let plane = |values: [f32; 3]| {
            let rows: Vec<f32> = (0..c)
                .flat_map(|ch| std::iter::repeat_n(values[ch.min(2)], h * w))
                .collect();
            Tensor::<B, 1>::from_floats(rows.as_slice(), &device).reshape([1, c * h * w])
        };
        let x = images.reshape([n, c * h * w]);
        (x * plane(scale) + plane(shift)).reshape([n, c, h, w])
    }
}
