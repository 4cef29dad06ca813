//! What a search strategy needs from a search space: a supernet whose architecture
//! parameters it can read, replace and differentiate, and the genotype those parameters
//! encode.
//!
//! The DARTS space ([`Supernet`](crate::Supernet), [`Genotype`]) implements both traits;
//! so does the NAS-Bench-201 space. A strategy written against [`SearchSupernet`] runs on
//! either.

use std::fmt;

use bio_rules::RuleHub;
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Genotype;

/// A discrete architecture that a search derives: serializable, printable, drawable.
pub trait ArchGenotype:
    Clone + fmt::Debug + fmt::Display + PartialEq + Serialize + DeserializeOwned + Send + 'static
{
    /// A picture of the cells, as a standalone SVG document.
    fn to_svg(&self) -> String;
    /// The cells as Graphviz DOT text.
    fn to_dot(&self) -> String;
}

impl ArchGenotype for Genotype {
    fn to_svg(&self) -> String {
        Genotype::to_svg(self)
    }

    fn to_dot(&self) -> String {
        Genotype::to_dot(self)
    }
}

/// A supernet: every edge a mixture of candidates weighted by architecture parameters
/// `α`, one `[edges, candidates]` matrix per cell type.
pub trait SearchSupernet<B: Backend>: Module<B> {
    /// The discrete architecture `α` encodes.
    type Genotype: ArchGenotype;

    /// Class logits with each edge's mixing weights `softmax(α)` (row-wise).
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - output: `[batch, classes]`
    fn logits(&self, images: Tensor<B, 4>) -> Tensor<B, 2>;

    /// Class logits with the given mixing weights in place of `softmax(α)`, one matrix per
    /// `α` matrix and of its shape (used by strategies that score sampled architectures).
    fn logits_mixed(&self, images: Tensor<B, 4>, weights: &[Tensor<B, 2>]) -> Tensor<B, 2>;

    /// The architecture parameters, in a fixed order.
    fn alphas(&self) -> Vec<Param<Tensor<B, 2>>>;

    /// The same supernet with new values of the architecture parameters (same order and
    /// shapes as [`alphas`](SearchSupernet::alphas)); their parameter ids are kept, so an
    /// optimiser's state still applies.
    fn with_alphas(self, values: Vec<Tensor<B, 2>>) -> Self;

    /// The genotype the current `α` encodes.
    fn derive(&self) -> Self::Genotype;

    /// The hub linking the rule layers to the output (DFA) and to alignment probes.
    fn rule_hub(&self) -> RuleHub;

    /// The ids of every architecture parameter: those of [`alphas`](SearchSupernet::alphas),
    /// and of any other the architecture optimiser trains (PC-DARTS' edge weights `β`).
    fn alpha_param_ids(&self) -> Vec<burn::module::ParamId> {
        self.alphas().iter().map(|a| a.id).collect()
    }
}
