//! NAS-Bench-201 cells: the search cell with a mixed operation on every edge, and the
//! discrete cell of a genotype.

use bio_rules::{LearningRule, RuleBackend, RuleHub};
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::{EDGES, NODES, Nb201CandidateSet, Nb201EdgeOp, Nb201Genotype};
use crate::NormMode;
use crate::cell::scale_gradient;

/// A softmax-weighted sum of every candidate on one edge, as the DARTS
/// [`MixedOp`](crate::MixedOp) (without partial channels).
///
/// A DFA candidate's input gradient is its projected output error, which would ignore the
/// candidate's mixing weight `w_k`; it is scaled by `w_k`, as every other candidate's is
/// through its output.
#[derive(Module, Debug)]
pub struct Nb201MixedOp<B: Backend> {
    /// One module per candidate, in the candidate set's order.
    pub ops: Vec<Nb201EdgeOp<B>>,
    /// Which candidates learn by DFA.
    #[module(skip)]
    pub direct: Vec<bool>,
}

impl<B: RuleBackend> Nb201MixedOp<B> {
    /// `Σ_k w_k · op_k(x)`, with `weights` of shape `[candidates]`. The zero operation
    /// adds nothing and is skipped.
    ///
    /// # Shapes
    /// `[batch, c, h, w]` to `[batch, c, h, w]`
    pub fn forward(&self, x: Tensor<B, 4>, weights: Tensor<B, 1>) -> Tensor<B, 4> {
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
        sum.unwrap_or_else(|| x.zeros_like())
    }
}

/// Adds `out` to the running sum of a node.
fn accumulate<B: Backend>(node: Option<Tensor<B, 4>>, out: Tensor<B, 4>) -> Tensor<B, 4> {
    match node {
        Some(sum) => sum + out,
        None => out,
    }
}

/// Runs a cell: node `j` is the sum of `edge(e, state i)` over its incoming edges
/// `e = (i → j)`, in [`edge_ends`](super::edge_ends) order; returns the last node.
fn run_cell<B: Backend>(
    x: Tensor<B, 4>,
    mut edge: impl FnMut(usize, Tensor<B, 4>) -> Tensor<B, 4>,
) -> Tensor<B, 4> {
    let mut states = vec![x];
    let mut e = 0;
    for _ in 1..NODES {
        let mut sum = None;
        for state in &states {
            sum = Some(accumulate(sum, edge(e, state.clone())));
            e += 1;
        }
        states.extend(sum);
    }
    states.pop().expect("a cell has nodes")
}

/// A NAS-Bench-201 search cell: four nodes, a mixed operation on each of the six edges,
/// output the last node. Its convolutions' batch norms are not affine.
#[derive(Module, Debug)]
pub struct Nb201SearchCell<B: Backend> {
    /// The six mixed edges, in [`edge_ends`](super::edge_ends) order.
    pub edges: Vec<Nb201MixedOp<B>>,
}

impl<B: RuleBackend> Nb201SearchCell<B> {
    /// Creates the cell at `channels` with every candidate of `candidates` on every edge.
    pub fn new(
        channels: usize,
        candidates: &Nb201CandidateSet,
        hub: RuleHub,
        device: &B::Device,
    ) -> Self {
        let direct: Vec<bool> = candidates
            .candidates()
            .iter()
            .map(|c| c.rule == Some(LearningRule::Dfa))
            .collect();
        let edge = || Nb201MixedOp {
            ops: candidates
                .candidates()
                .iter()
                .map(|&c| Nb201EdgeOp::new(c, channels, false, hub, device))
                .collect(),
            direct: direct.clone(),
        };
        Self {
            edges: (0..EDGES).map(|_| edge()).collect(),
        }
    }

    /// Applies the cell with mixing weights `weights`, `[6, candidates]` (rows already
    /// softmax-normalised).
    ///
    /// # Shapes
    /// - x and output: `[batch, channels, h, w]`
    pub fn forward(&self, x: Tensor<B, 4>, weights: Tensor<B, 2>) -> Tensor<B, 4> {
        let candidates = weights.dims()[1];
        run_cell(x, |e, h| {
            let row = weights.clone().slice([e..e + 1, 0..candidates]);
            self.edges[e].forward(h, row.reshape([candidates]))
        })
    }
}

/// The discrete cell of an [`Nb201Genotype`]: one operation per edge, affine batch norms.
#[derive(Module, Debug)]
pub struct Nb201Cell<B: Backend> {
    /// The six operations, in [`edge_ends`](super::edge_ends) order.
    pub ops: Vec<Nb201EdgeOp<B>>,
}

impl<B: RuleBackend> Nb201Cell<B> {
    /// Builds the cell of `genotype` (already validated) at `channels`.
    pub fn new(
        channels: usize,
        genotype: &Nb201Genotype,
        hub: RuleHub,
        device: &B::Device,
    ) -> Self {
        let ops = genotype
            .edges
            .iter()
            .map(|&c| Nb201EdgeOp::new(c, channels, true, hub, device))
            .collect();
        Self { ops }
    }

    /// Applies the cell with the batch norms in `mode`.
    ///
    /// # Shapes
    /// - x and output: `[batch, channels, h, w]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        run_cell(x, |e, h| self.ops[e].forward(h, mode))
    }
}
