//! The building blocks of DARTS cells, with every convolution on a chosen rule.

use bio_rules::{LearningRule, RuleBackend, RuleConv2d, RuleConv2dConfig, RuleHub};
use burn::module::Module;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::{Distribution, Tensor};

use crate::{BatchNorm2d, BatchNorm2dConfig, NormMode};

/// Settings shared by the layers of one edge or preprocessing step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Stride of the first spatial operation.
    pub stride: usize,
    /// Whether batch norms have learnable `γ`, `β` (false while searching).
    pub affine: bool,
    /// The rule of the convolutions.
    pub rule: LearningRule,
    /// The network's hub (DFA's output error, the alignment probe).
    pub hub: RuleHub,
}

impl LayerSpec {
    fn conv(&self, c_in: usize, c_out: usize, kernel: usize) -> RuleConv2dConfig {
        RuleConv2dConfig::new([c_in, c_out], [kernel, kernel]).with_rule(self.rule)
    }

    fn norm<B: Backend>(&self, channels: usize, device: &B::Device) -> BatchNorm2d<B> {
        BatchNorm2dConfig::new(channels)
            .with_affine(self.affine)
            .init(device)
    }
}

/// ReLU, convolution, batch norm: the cell preprocessing and the stem's building block.
#[derive(Module, Debug)]
pub struct ReluConvBn<B: Backend> {
    /// The convolution.
    pub conv: RuleConv2d<B>,
    /// The batch norm.
    pub bn: BatchNorm2d<B>,
}

impl<B: RuleBackend> ReluConvBn<B> {
    /// Creates the block with a `kernel`×`kernel` convolution padded by `padding`.
    pub fn new(spec: LayerSpec, kernel: usize, padding: usize, device: &B::Device) -> Self {
        let conv = spec
            .conv(spec.c_in, spec.c_out, kernel)
            .with_stride([spec.stride; 2])
            .with_padding([padding; 2])
            .init_with_hub(spec.hub, device);
        Self {
            conv,
            bn: spec.norm(spec.c_out, device),
        }
    }

    /// `mode`: the batch norms' statistics.
    ///
    /// # Shapes
    /// `[batch, c_in, h, w]` to `[batch, c_out, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        self.bn.forward_mode(self.conv.forward(relu(x)), mode)
    }
}

/// One half of a separable convolution: depthwise `k×k` (possibly dilated), pointwise 1×1,
/// batch norm. A dilated convolution is exactly one such half.
#[derive(Module, Debug)]
pub struct DwPwBn<B: Backend> {
    /// Depthwise `k×k` convolution.
    pub depthwise: RuleConv2d<B>,
    /// Pointwise 1×1 convolution.
    pub pointwise: RuleConv2d<B>,
    /// The batch norm.
    pub bn: BatchNorm2d<B>,
}

impl<B: RuleBackend> DwPwBn<B> {
    /// Creates the block: ReLU, depthwise (`c_in` groups), pointwise to `c_out`, batch norm.
    pub fn new(spec: LayerSpec, kernel: usize, dilation: usize, device: &B::Device) -> Self {
        let padding = dilation * (kernel - 1) / 2;
        let depthwise = spec
            .conv(spec.c_in, spec.c_in, kernel)
            .with_stride([spec.stride; 2])
            .with_padding([padding; 2])
            .with_dilation([dilation; 2])
            .with_groups(spec.c_in)
            .init_with_hub(spec.hub, device);
        let pointwise = spec
            .conv(spec.c_in, spec.c_out, 1)
            .init_with_hub(spec.hub, device);
        Self {
            depthwise,
            pointwise,
            bn: spec.norm(spec.c_out, device),
        }
    }

    /// `mode`: the batch norms' statistics.
    ///
    /// # Shapes
    /// `[batch, c_in, h, w]` to `[batch, c_out, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        let y = self.pointwise.forward(self.depthwise.forward(relu(x)));
        self.bn.forward_mode(y, mode)
    }
}

/// Separable convolution as in DARTS: two [`DwPwBn`] halves, the first strided.
#[derive(Module, Debug)]
pub struct SepConv<B: Backend> {
    /// First half (`c_in` to `c_in`, strided).
    pub first: DwPwBn<B>,
    /// Second half (`c_in` to `c_out`, stride 1).
    pub second: DwPwBn<B>,
}

impl<B: RuleBackend> SepConv<B> {
    /// Creates a `kernel`×`kernel` separable convolution.
    pub fn new(spec: LayerSpec, kernel: usize, device: &B::Device) -> Self {
        let first = DwPwBn::new(
            LayerSpec {
                c_out: spec.c_in,
                ..spec
            },
            kernel,
            1,
            device,
        );
        let second = DwPwBn::new(LayerSpec { stride: 1, ..spec }, kernel, 1, device);
        Self { first, second }
    }

    /// `mode`: the batch norms' statistics.
    ///
    /// # Shapes
    /// `[batch, c_in, h, w]` to `[batch, c_out, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        self.second.forward(self.first.forward(x, mode), mode)
    }
}

/// Halves the resolution with two 1×1 stride-2 convolutions, the second offset by one
/// pixel, concatenated along channels, then batch norm.
#[derive(Module, Debug)]
pub struct FactorizedReduce<B: Backend> {
    /// Convolution on the even pixels.
    pub even: RuleConv2d<B>,
    /// Convolution on the odd pixels.
    pub odd: RuleConv2d<B>,
    /// The batch norm.
    pub bn: BatchNorm2d<B>,
}

impl<B: RuleBackend> FactorizedReduce<B> {
    /// Creates the block; `spec.c_out` must be even.
    pub fn new(spec: LayerSpec, device: &B::Device) -> Self {
        let half = spec.c_out / 2;
        let conv = || {
            spec.conv(spec.c_in, half, 1)
                .with_stride([2, 2])
                .init_with_hub(spec.hub, device)
        };
        Self {
            even: conv(),
            odd: conv(),
            bn: spec.norm(half * 2, device),
        }
    }

    /// `mode`: the batch norms' statistics.
    ///
    /// # Shapes
    /// `[batch, c_in, h, w]` to `[batch, c_out, ceil(h / 2), ceil(w / 2)]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        let x = relu(x);
        let [n, c, h, w] = x.dims();
        // Drop the first row and column and pad one zero row and column at the end, so the
        // odd pixels line up with the even ones for any size (the pad is never sampled when
        // the size is even).
        let shifted = x
            .clone()
            .slice([0..n, 0..c, 1..h, 1..w])
            .pad((0, 1, 0, 1), 0.0);
        let out = Tensor::cat(vec![self.even.forward(x), self.odd.forward(shifted)], 1);
        self.bn.forward_mode(out, mode)
    }
}

/// The kind of a pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum.
    Max,
    /// Average, padding not counted.
    Avg,
}

/// A 3×3 pooling with padding 1, followed by a non-affine batch norm while searching.
#[derive(Module, Debug)]
pub struct Pool<B: Backend> {
    /// Maximum or average.
    #[module(skip)]
    pub kind: PoolKind,
    /// Stride.
    #[module(skip)]
    pub stride: usize,
    /// The batch norm after the pooling (search only).
    pub bn: Option<BatchNorm2d<B>>,
}

impl<B: Backend> Pool<B> {
    /// Creates the pooling; `with_norm` adds the non-affine batch norm DARTS uses in search.
    pub fn new(
        kind: PoolKind,
        channels: usize,
        stride: usize,
        with_norm: bool,
        device: &B::Device,
    ) -> Self {
        let bn = with_norm.then(|| {
            BatchNorm2dConfig::new(channels)
                .with_affine(false)
                .init(device)
        });
        Self { kind, stride, bn }
    }

    /// `mode`: the batch norms' statistics.
    ///
    /// # Shapes
    /// `[batch, c, h, w]` to `[batch, c, ceil(h / stride), ceil(w / stride)]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        let stride = [self.stride; 2];
        let y = match self.kind {
            PoolKind::Max => max_pool2d(x, [3, 3], stride, [1, 1], [1, 1], false),
            PoolKind::Avg => avg_pool_exclude_pad(x, stride),
        };
        match &self.bn {
            Some(bn) => bn.forward_mode(y, mode),
            None => y,
        }
    }
}

/// 3×3 average pooling with padding 1 that divides by the number of real (not padded)
/// pixels under the window: the padded sum divided by the pooled count of ones.
pub fn avg_pool_exclude_pad<B: Backend>(x: Tensor<B, 4>, stride: [usize; 2]) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    let ones = Tensor::<B, 4>::ones([1, 1, h, w], &x.device());
    let sums = avg_pool2d(x, [3, 3], stride, [1, 1], true, false);
    let counts = avg_pool2d(ones, [3, 3], stride, [1, 1], true, false);
    sums / counts
}

/// Returns zeros shaped like the output of a stride-`stride` edge.
pub fn zeros_like_output<B: Backend>(x: &Tensor<B, 4>, stride: usize) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    Tensor::zeros([n, c, h.div_ceil(stride), w.div_ceil(stride)], &x.device())
}

/// Drop-path: zeroes the whole of each sample with probability `prob` and scales the kept
/// samples by `1 / (1 - prob)`, so the expected output is `x`. `prob` must lie in
/// `[0, 1)`; 0 returns `x` unchanged.
///
/// # Shapes
/// - x and output: `[batch, c, h, w]`
pub fn drop_path<B: Backend>(x: Tensor<B, 4>, prob: f64) -> Tensor<B, 4> {
    if prob <= 0.0 {
        return x;
    }
    let keep = 1.0 - prob;
    let [n, c, h, w] = x.dims();
    let mask = Tensor::<B, 2>::random([n, 1], Distribution::Bernoulli(keep), &x.device());
    // Per-sample rows, so the mask broadcasts along the trailing axis only.
    (x.reshape([n, c * h * w]) * (mask / keep)).reshape([n, c, h, w])
}
