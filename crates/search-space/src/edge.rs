//! The module of one candidate on one edge.

use bio_rules::{LearningRule, RuleBackend, RuleHub};
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::layers::zeros_like_output;
use crate::layers::{DwPwBn, FactorizedReduce, LayerSpec, Pool, PoolKind, SepConv};
use crate::{Candidate, NormMode, Operation};

/// The zero operation: the edge carries nothing.
#[derive(Module, Clone, Debug)]
pub struct Zero {
    /// Stride of the edge, which sets the output size.
    #[module(skip)]
    pub stride: usize,
}

/// The identity.
#[derive(Module, Clone, Debug)]
pub struct Identity;

/// The module of one (operation, rule) candidate on an edge.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum EdgeOp<B: Backend> {
    /// `none`.
    Zero(Zero),
    /// `skip_connect` with stride 1.
    Identity(Identity),
    /// `skip_connect` with stride 2.
    Reduce(FactorizedReduce<B>),
    /// `max_pool_3x3` or `avg_pool_3x3`.
    Pool(Pool<B>),
    /// `sep_conv_3x3` or `sep_conv_5x5`.
    Sep(SepConv<B>),
    /// `dil_conv_3x3` or `dil_conv_5x5`.
    Dil(DwPwBn<B>),
}

/// Where an edge sits and how its layers are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeSpec {
    /// Channels in and out.
    pub channels: usize,
    /// 1, or 2 for edges leaving the inputs of a reduction cell.
    pub stride: usize,
    /// True in the search supernet: batch norms without affine parameters and pools
    /// followed by a batch norm.
    pub search: bool,
    /// Rule of the stride-2 skip's factorized reduce.
    pub skeleton_rule: LearningRule,
    /// The network's hub (DFA's output error, the alignment probe).
    pub hub: RuleHub,
}

impl<B: RuleBackend> EdgeOp<B> {
    /// Builds the module of `candidate`.
    pub fn new(candidate: Candidate, spec: EdgeSpec, device: &B::Device) -> Self {
        let layer = LayerSpec {
            c_in: spec.channels,
            c_out: spec.channels,
            stride: spec.stride,
            affine: !spec.search,
            rule: candidate.rule.unwrap_or(spec.skeleton_rule),
            hub: spec.hub,
        };
        let pool = |kind| Pool::new(kind, spec.channels, spec.stride, spec.search, device);
        match candidate.op {
            Operation::None => Self::Zero(Zero {
                stride: spec.stride,
            }),
            Operation::SkipConnect if spec.stride == 1 => Self::Identity(Identity),
            Operation::SkipConnect => Self::Reduce(FactorizedReduce::new(layer, device)),
            Operation::MaxPool3x3 => Self::Pool(pool(PoolKind::Max)),
            Operation::AvgPool3x3 => Self::Pool(pool(PoolKind::Avg)),
            Operation::SepConv3x3 => Self::Sep(SepConv::new(layer, 3, device)),
            Operation::SepConv5x5 => Self::Sep(SepConv::new(layer, 5, device)),
            Operation::DilConv3x3 => Self::Dil(DwPwBn::new(layer, 3, 2, device)),
            Operation::DilConv5x5 => Self::Dil(DwPwBn::new(layer, 5, 2, device)),
        }
    }

    /// Applies the operation; `mode` sets the batch norms' statistics.
    ///
    /// # Shapes
    /// `[batch, c, h, w]` to `[batch, c, ceil(h / stride), ceil(w / stride)]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        match self {
            Self::Zero(zero) => zeros_like_output(&x, zero.stride),
            Self::Identity(_) => x,
            Self::Reduce(op) => op.forward(x, mode),
            Self::Pool(op) => op.forward(x, mode),
            Self::Sep(op) => op.forward(x, mode),
            Self::Dil(op) => op.forward(x, mode),
        }
    }

    /// Whether this is the zero operation.
    pub fn is_zero(&self) -> bool {
        matches!(self, Self::Zero(_))
    }

    /// Whether this is the identity (never dropped by drop-path).
    pub fn is_identity(&self) -> bool {
        matches!(self, Self::Identity(_))
    }
}
