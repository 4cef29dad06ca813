//! Cells: the search cell with a mixed operation on every edge, and the discrete cell of
//! a genotype.

use bio_rules::{LearningRule, RuleBackend, RuleHub};
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool2d;

use crate::edge::{EdgeOp, EdgeSpec};
use crate::genotype::{CellGenotype, STEPS};
use crate::layers::drop_path;
use crate::layers::{FactorizedReduce, LayerSpec, ReluConvBn};
use crate::{CandidateSet, NormMode};

/// Number of edges of a search cell: node `i` (0-based) has `i + 2` incoming edges.
pub const SEARCH_EDGES: usize = STEPS * (STEPS + 3) / 2;

/// Channel sizes and kind of one cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellSpec {
    /// Channels of the older input (the cell two back).
    pub c_prev_prev: usize,
    /// Channels of the newer input (the previous cell).
    pub c_prev: usize,
    /// Channels of every node of this cell.
    pub channels: usize,
    /// Whether this cell halves the resolution.
    pub reduction: bool,
    /// Whether the previous cell halved it (then the older input is reduced too).
    pub reduction_prev: bool,
    /// True in the search supernet (no affine batch norm).
    pub search: bool,
    /// Rule of the preprocessing convolutions and stride-2 skips.
    pub skeleton_rule: LearningRule,
    /// The network's hub (DFA's output error, the alignment probe).
    pub hub: RuleHub,
}

impl CellSpec {
    fn edge(&self, input: usize) -> EdgeSpec {
        let stride = if self.reduction && input < 2 { 2 } else { 1 };
        EdgeSpec {
            channels: self.channels,
            stride,
            search: self.search,
            skeleton_rule: self.skeleton_rule,
            hub: self.hub,
        }
    }
}

/// How a cell brings one of its inputs to its own channel count (and resolution).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Preprocess<B: Backend> {
    /// ReLU, 1×1 convolution, batch norm.
    Conv(ReluConvBn<B>),
    /// Factorized reduce, after a reduction cell.
    Reduce(FactorizedReduce<B>),
}

impl<B: RuleBackend> Preprocess<B> {
    fn new(c_in: usize, spec: &CellSpec, reduce: bool, device: &B::Device) -> Self {
        let layer = LayerSpec {
            c_in,
            c_out: spec.channels,
            stride: 1,
            affine: !spec.search,
            rule: spec.skeleton_rule,
            hub: spec.hub,
        };
        if reduce {
            Self::Reduce(FactorizedReduce::new(layer, device))
        } else {
            Self::Conv(ReluConvBn::new(layer, 1, 0, device))
        }
    }

    fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        match self {
            Self::Conv(op) => op.forward(x, mode),
            Self::Reduce(op) => op.forward(x, mode),
        }
    }

    /// The preprocessing of a cell's older and newer inputs.
    fn pair(spec: &CellSpec, device: &B::Device) -> (Self, Self) {
        let pre0 = Self::new(spec.c_prev_prev, spec, spec.reduction_prev, device);
        let pre1 = Self::new(spec.c_prev, spec, false, device);
        (pre0, pre1)
    }
}

/// A softmax-weighted sum of every candidate on one edge.
///
/// With partial channels (PC-DARTS, fraction `1/k`), only the first `C/k` channels go
/// through the candidates; the other channels bypass them (max-pooled 2×2 on a stride-2
/// edge), are concatenated after the mixture, and the channels are shuffled in `k`
/// groups so that another part is sampled by the next edge.
///
/// A DFA candidate's input gradient is its projected output error, which would ignore the
/// candidate's mixing weight `w_k`; it is scaled by `w_k`, as every other candidate's is
/// through its output, so each candidate's error reaches the edge's input in proportion
/// to its weight.
#[derive(Module, Debug)]
pub struct MixedOp<B: Backend> {
    /// One module per candidate, in the candidate set's order.
    pub ops: Vec<EdgeOp<B>>,
    /// Which candidates learn by DFA.
    #[module(skip)]
    pub direct: Vec<bool>,
    /// `k`: the candidates see `1/k` of the channels (1: all, plain DARTS).
    #[module(skip)]
    pub partial: usize,
    /// Stride of the edge (the bypassed channels are pooled on stride 2).
    #[module(skip)]
    pub stride: usize,
}

impl<B: RuleBackend> MixedOp<B> {
    /// `Σ_k w_k · op_k(x)`, with `weights` of shape `[candidates]`. The zero operation
    /// adds nothing and is skipped.
    pub fn forward(&self, x: Tensor<B, 4>, weights: Tensor<B, 1>) -> Tensor<B, 4> {
        if self.partial <= 1 {
            return self.mix(x, weights);
        }
        let channels = x.dims()[1];
        let part = channels / self.partial;
        let seen = self.mix(x.clone().narrow(1, 0, part), weights);
        let mut rest = x.narrow(1, part, channels - part);
        if self.stride == 2 {
            rest = max_pool2d(rest, [2, 2], [2, 2], [0, 0], [1, 1], false);
        }
        channel_shuffle(Tensor::cat(vec![seen, rest], 1), self.partial)
    }

    fn mix(&self, x: Tensor<B, 4>, weights: Tensor<B, 1>) -> Tensor<B, 4> {
        let mut sum: Option<Tensor<B, 4>> = None;
        for (k, op) in self.ops.iter().enumerate() {
            if op.is_zero() {
                continue;
            }
            let w = weights.clone().narrow(0, k, 1).reshape([1, 1, 1, 1]);
            let input = if self.direct.get(k).copied().unwrap_or(false) {
                scale_gradient(x.clone(), w.clone())
            } else {
                x.clone()
            };
            let term = op.forward(input, NormMode::Auto) * w;
            sum = Some(match sum {
                Some(s) => s + term,
                None => term,
            });
        }
        sum.unwrap_or_else(|| self.ops[0].forward(x, NormMode::Auto))
    }
}

/// Interleaves `groups` equal channel groups: `[n, g·c, h, w]` read as `[n, g, c, h, w]`,
/// the two channel axes swapped.
pub(crate) fn channel_shuffle<B: Backend>(x: Tensor<B, 4>, groups: usize) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, groups, c / groups, h, w])
        .swap_dims(1, 2)
        .reshape([n, c, h, w])
}

/// The identity, whose backward pass multiplies the gradient by `scale` (not
/// differentiated): `x·c + x̄·(1 - c)` with `c` and `x̄` detached.
pub(crate) fn scale_gradient<B: Backend>(x: Tensor<B, 4>, scale: Tensor<B, 4>) -> Tensor<B, 4> {
    let c = scale.detach();
    x.clone() * c.clone() + x.detach() * (c.neg() + 1.0)
}

/// A search cell: two preprocessed inputs, four nodes, a mixed operation on each of the 14
/// edges, output the concatenation of the four nodes.
#[derive(Module, Debug)]
pub struct SearchCell<B: Backend> {
    /// Preprocessing of the older input.
    pub pre0: Preprocess<B>,
    /// Preprocessing of the newer input.
    pub pre1: Preprocess<B>,
    /// The 14 mixed edges, node by node, inputs in order.
    pub edges: Vec<MixedOp<B>>,
    /// Whether the cell halves the resolution.
    #[module(skip)]
    pub reduction: bool,
}

impl<B: RuleBackend> SearchCell<B> {
    /// Creates the cell with every candidate of `candidates` on every edge.
    pub fn new(spec: CellSpec, candidates: &CandidateSet, device: &B::Device) -> Self {
        Self::partial(spec, candidates, 1, device)
    }

    /// Creates the cell with the candidates on `1/k` of each edge's channels (PC-DARTS);
    /// `spec.channels` must be a multiple of `k`.
    pub fn partial(
        spec: CellSpec,
        candidates: &CandidateSet,
        k: usize,
        device: &B::Device,
    ) -> Self {
        let k = k.max(1);
        let (pre0, pre1) = Preprocess::pair(&spec, device);
        let mut edges = Vec::with_capacity(SEARCH_EDGES);
        for node in 0..STEPS {
            for input in 0..node + 2 {
                let mut edge = spec.edge(input);
                edge.channels /= k;
                let ops = candidates
                    .candidates()
                    .iter()
                    .map(|&c| EdgeOp::new(c, edge, device));
                let direct = candidates
                    .candidates()
                    .iter()
                    .map(|c| c.rule == Some(LearningRule::Dfa))
                    .collect();
                edges.push(MixedOp {
                    ops: ops.collect(),
                    direct,
                    partial: k,
                    stride: edge.stride,
                });
            }
        }
        Self {
            pre0,
            pre1,
            edges,
            reduction: spec.reduction,
        }
    }

    /// Applies the cell with architecture weights `weights`, `[14, candidates]` (rows are
    /// already softmax-normalised).
    ///
    /// # Shapes
    /// - s0, s1: `[batch, c_prev_prev | c_prev, h, w]`
    /// - output: `[batch, 4 · channels, h', w']` (`h' = h / 2` in a reduction cell)
    pub fn forward(
        &self,
        s0: Tensor<B, 4>,
        s1: Tensor<B, 4>,
        weights: Tensor<B, 2>,
    ) -> Tensor<B, 4> {
        self.forward_normalised(s0, s1, weights, None)
    }

    /// [`forward`](SearchCell::forward) with each edge's output multiplied by its entry of
    /// `edges` (`[14]`, PC-DARTS' edge normalisation), when given.
    pub fn forward_normalised(
        &self,
        s0: Tensor<B, 4>,
        s1: Tensor<B, 4>,
        weights: Tensor<B, 2>,
        edges: Option<Tensor<B, 1>>,
    ) -> Tensor<B, 4> {
        let candidates = weights.dims()[1];
        let mut states = vec![
            self.pre0.forward(s0, NormMode::Auto),
            self.pre1.forward(s1, NormMode::Auto),
        ];
        let mut offset = 0;
        for _ in 0..STEPS {
            let mut node: Option<Tensor<B, 4>> = None;
            for (j, h) in states.iter().enumerate() {
                let row = weights
                    .clone()
                    .slice([offset + j..offset + j + 1, 0..candidates]);
                let mut out = self.edges[offset + j].forward(h.clone(), row.reshape([candidates]));
                if let Some(edges) = &edges {
                    out = out * edges.clone().narrow(0, offset + j, 1).reshape([1, 1, 1, 1]);
                }
                node = Some(match node {
                    Some(sum) => sum + out,
                    None => out,
                });
            }
            offset += states.len();
            states.extend(node);
        }
        Tensor::cat(states.split_off(2), 1)
    }
}

/// The discrete cell of a genotype: two operations per node.
#[derive(Module, Debug)]
pub struct Cell<B: Backend> {
    /// Preprocessing of the older input.
    pub pre0: Preprocess<B>,
    /// Preprocessing of the newer input.
    pub pre1: Preprocess<B>,
    /// Eight operations, two per node.
    pub ops: Vec<EdgeOp<B>>,
    /// The state each operation reads.
    #[module(skip)]
    pub inputs: Vec<usize>,
    /// The states concatenated into the output.
    #[module(skip)]
    pub concat: Vec<usize>,
}

impl<B: RuleBackend> Cell<B> {
    /// Builds the cell of `genotype` (already validated).
    pub fn new(spec: CellSpec, genotype: &CellGenotype, device: &B::Device) -> Self {
        let (pre0, pre1) = Preprocess::pair(&spec, device);
        let ops = genotype
            .edges
            .iter()
            .map(|e| EdgeOp::new(e.candidate(), spec.edge(e.input), device))
            .collect();
        let inputs = genotype.edges.iter().map(|e| e.input).collect();
        Self {
            pre0,
            pre1,
            ops,
            inputs,
            concat: genotype.concat.clone(),
        }
    }

    /// Applies the cell.
    ///
    /// # Shapes
    /// - s0, s1: `[batch, c_prev_prev | c_prev, h, w]`
    /// - output: `[batch, concat.len() · channels, h', w']`
    pub fn forward(&self, s0: Tensor<B, 4>, s1: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_with(s0, s1, NormMode::Auto, 0.0)
    }

    /// Applies the cell with the batch norms in `mode`, dropping the output of each
    /// operation other than the identity for whole samples with probability `drop_prob`
    /// (drop-path; 0 turns it off).
    ///
    /// # Shapes
    /// As [`Self::forward`].
    pub fn forward_with(
        &self,
        s0: Tensor<B, 4>,
        s1: Tensor<B, 4>,
        mode: NormMode,
        drop_prob: f64,
    ) -> Tensor<B, 4> {
        let mut states = vec![self.pre0.forward(s0, mode), self.pre1.forward(s1, mode)];
        let apply = |op: &EdgeOp<B>, x: Tensor<B, 4>| {
            let y = op.forward(x, mode);
            if drop_prob > 0.0 && !op.is_identity() {
                drop_path(y, drop_prob)
            } else {
                y
            }
        };
        for (ops, inputs) in self.ops.chunks(2).zip(self.inputs.chunks(2)) {
            let a = apply(&ops[0], states[inputs[0]].clone());
            let b = apply(&ops[1], states[inputs[1]].clone());
            states.push(a + b);
        }
        let out = self.concat.iter().map(|&i| states[i].clone()).collect();
        Tensor::cat(out, 1)
    }
}
