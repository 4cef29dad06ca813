//! The modules of a NAS-Bench-201 network: one candidate on an edge, the residual block
//! between stages, and the skeleton (stem, residual blocks, head) shared by the supernet
//! and the final network.

use bio_rules::{
    LearningRule, RuleBackend, RuleConv2d, RuleConv2dConfig, RuleHub, RuleLinear, RuleLinearConfig,
};
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;

use super::{Nb201Candidate, Nb201Operation, STAGES};
use crate::layers::{LayerSpec, Pool, PoolKind, ReluConvBn, zeros_like_output};
use crate::network::{Stem, global_average_pool};
use crate::{BatchNorm2d, BatchNorm2dConfig, Identity, NormMode, Zero};

/// The module of one NAS-Bench-201 candidate on an edge (stride 1, `C` channels in and
/// out).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Nb201EdgeOp<B: Backend> {
    /// `none`: zeros.
    Zero(Zero),
    /// `skip_connect`: the identity.
    Identity(Identity),
    /// `nor_conv_1x1` or `nor_conv_3x3`: ReLU, convolution (padding `k / 2`), batch norm.
    Conv(ReluConvBn<B>),
    /// `avg_pool_3x3`: padding not counted, no batch norm (as in NAS-Bench-201).
    Pool(Pool<B>),
}

impl<B: RuleBackend> Nb201EdgeOp<B> {
    /// Builds the module of `candidate` on a `channels`-wide edge; `affine`: whether the
    /// convolution's batch norm learns `γ`, `β` (false in the supernet). A convolution
    /// without a rule learns by BP.
    pub fn new(
        candidate: Nb201Candidate,
        channels: usize,
        affine: bool,
        hub: RuleHub,
        device: &B::Device,
    ) -> Self {
        match candidate.op {
            Nb201Operation::None => Self::Zero(Zero { stride: 1 }),
            Nb201Operation::SkipConnect => Self::Identity(Identity),
            Nb201Operation::AvgPool3x3 => {
                Self::Pool(Pool::new(PoolKind::Avg, channels, 1, false, device))
            }
            Nb201Operation::NorConv1x1 | Nb201Operation::NorConv3x3 => {
                let kernel = candidate.op.kernel().unwrap_or(1);
                let spec = LayerSpec {
                    c_in: channels,
                    c_out: channels,
                    stride: 1,
                    affine,
                    rule: candidate.rule.unwrap_or(LearningRule::Bp),
                    hub,
                };
                Self::Conv(ReluConvBn::new(spec, kernel, kernel / 2, device))
            }
        }
    }

    /// Applies the operation; `mode` sets the batch norm's statistics.
    ///
    /// # Shapes
    /// `[batch, c, h, w]` to `[batch, c, h, w]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        match self {
            Self::Zero(zero) => zeros_like_output(&x, zero.stride),
            Self::Identity(_) => x,
            Self::Conv(op) => op.forward(x, mode),
            Self::Pool(op) => op.forward(x, mode),
        }
    }

    /// Whether this is the zero operation.
    pub fn is_zero(&self) -> bool {
        matches!(self, Self::Zero(_))
    }
}

/// NAS-Bench-201's residual block between stages: `relu_conv_bn(3×3, stride 2)` then
/// `relu_conv_bn(3×3)`, plus a shortcut of 2×2 average pooling (stride 2) and a 1×1
/// convolution. Its batch norms are affine in the supernet too, as in NAS-Bench-201.
#[derive(Module, Debug)]
pub struct ResidualBlock<B: Backend> {
    /// ReLU, 3×3 stride-2 convolution (`c_in` to `c_out`), batch norm.
    pub conv_a: ReluConvBn<B>,
    /// ReLU, 3×3 convolution (`c_out` to `c_out`), batch norm.
    pub conv_b: ReluConvBn<B>,
    /// The shortcut's 1×1 convolution, after the pooling.
    pub shortcut: RuleConv2d<B>,
}

impl<B: RuleBackend> ResidualBlock<B> {
    /// Creates the block from `c_in` to `c_out` channels on `rule`.
    pub fn new(
        c_in: usize,
        c_out: usize,
        rule: LearningRule,
        hub: RuleHub,
        device: &B::Device,
    ) -> Self {
        let spec = LayerSpec {
            c_in,
            c_out,
            stride: 2,
            affine: true,
            rule,
            hub,
        };
        let second = LayerSpec {
            c_in: c_out,
            stride: 1,
            ..spec
        };
        Self {
            conv_a: ReluConvBn::new(spec, 3, 1, device),
            conv_b: ReluConvBn::new(second, 3, 1, device),
            shortcut: RuleConv2dConfig::new([c_in, c_out], [1, 1])
                .with_rule(rule)
                .init_with_hub(hub, device),
        }
    }

    /// `mode`: the batch norms' statistics.
    ///
    /// # Shapes
    /// `[batch, c_in, h, w]` to `[batch, c_out, h / 2, w / 2]` (`h`, `w` even)
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        let pooled = avg_pool2d(x.clone(), [2, 2], [2, 2], [0, 0], true, false);
        let residual = self.conv_b.forward(self.conv_a.forward(x, mode), mode);
        residual + self.shortcut.forward(pooled)
    }
}

/// What a NAS-Bench-201 network has besides its cells: the stem (3×3 convolution to `C`
/// channels, batch norm), a [`ResidualBlock`] before the second and third stages, and the
/// head (batch norm, ReLU, global average pooling, linear classifier). Stage `s` runs at
/// `2^s · C` channels.
#[derive(Module, Debug)]
pub struct Nb201Skeleton<B: Backend> {
    /// The stem.
    pub stem: Stem<B>,
    /// The residual blocks entering stages 2 and 3.
    pub reductions: Vec<ResidualBlock<B>>,
    /// The head's batch norm (affine).
    pub last_bn: BatchNorm2d<B>,
    /// The classifier after global average pooling.
    pub classifier: RuleLinear<B>,
    /// Cells per stage, `N`.
    #[module(skip)]
    pub cells_per_stage: usize,
}

impl<B: RuleBackend> Nb201Skeleton<B> {
    /// Creates the skeleton for `C = channels`, `N = cells_per_stage`, every layer on
    /// `rule`.
    pub fn new(
        channels: usize,
        cells_per_stage: usize,
        classes: usize,
        (rule, hub): (LearningRule, RuleHub),
        device: &B::Device,
    ) -> Self {
        let reductions = (1..STAGES)
            .map(|s| ResidualBlock::new(channels << (s - 1), channels << s, rule, hub, device))
            .collect();
        let c_last = channels << (STAGES - 1);
        Self {
            stem: Stem::new(channels, rule, hub, device),
            reductions,
            last_bn: BatchNorm2dConfig::new(c_last).init(device),
            classifier: RuleLinearConfig::new(c_last, classes)
                .with_rule(rule)
                .init_with_hub(hub, device),
            cells_per_stage,
        }
    }

    /// Class logits: the stem, then per stage its residual block (from the second on) and
    /// its `N` cells of `cells` (stage by stage, each applied by `apply`), then the head.
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - output: `[batch, classes]`
    pub fn forward<C>(
        &self,
        images: Tensor<B, 4>,
        cells: &[C],
        mode: NormMode,
        mut apply: impl FnMut(&C, Tensor<B, 4>) -> Tensor<B, 4>,
    ) -> Tensor<B, 2> {
        let n = self.cells_per_stage;
        let mut x = self.stem.forward(images, mode);
        for stage in 0..STAGES {
            if let Some(block) = stage.checked_sub(1).and_then(|s| self.reductions.get(s)) {
                x = block.forward(x, mode);
            }
            let stage_cells = cells.get(stage * n..(stage + 1) * n).unwrap_or(&[]);
            for cell in stage_cells {
                x = apply(cell, x);
            }
        }
        let x = relu(self.last_bn.forward_mode(x, mode));
        self.classifier.forward(global_average_pool(x))
    }
}
