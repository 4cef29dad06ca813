//! The NAS-Bench-201 search supernet.

use bio_rules::{LearningRule, RuleBackend, RuleHub};
use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

use super::{EDGES, Nb201CandidateSet, Nb201Genotype, Nb201SearchCell, Nb201Skeleton, STAGES};
use crate::space::SearchSupernet;
use crate::{NormMode, SpaceError};

/// Configuration of the [`Nb201Supernet`].
#[derive(Config, Debug)]
pub struct Nb201SupernetConfig {
    /// Channels `C` of the first stage; the second and third run at `2C` and `4C`
    /// (default 16, as NAS-Bench-201).
    #[config(default = 16)]
    pub channels: usize,
    /// Search cells per stage, `N` (default 5, as NAS-Bench-201).
    #[config(default = 5)]
    pub cells_per_stage: usize,
    /// Number of classes (default 10).
    #[config(default = 10)]
    pub classes: usize,
    /// The rules the convolution candidates choose from (default: FA, uSF, brSF, frSF).
    #[config(default = "LearningRule::PAPER.to_vec()")]
    pub rules: Vec<LearningRule>,
    /// Rule of the stem, residual blocks and classifier (default BP).
    #[config(default = "LearningRule::Bp")]
    pub skeleton_rule: LearningRule,
    /// Standard deviation of the initial architecture weights (default 1e-3).
    #[config(default = 1e-3)]
    pub alpha_init_std: f64,
}

/// The NAS-Bench-201 supernet: every edge of every cell a softmax-weighted mixture of all
/// candidates, one architecture matrix `α` (`[6, candidates]`) shared by all cells.
#[derive(Module, Debug)]
pub struct Nb201Supernet<B: Backend> {
    /// Stem, residual blocks and head.
    pub skeleton: Nb201Skeleton<B>,
    /// The `3N` search cells, stage by stage.
    pub cells: Vec<Nb201SearchCell<B>>,
    /// Architecture weights, `[6, candidates]`.
    pub alpha: Param<Tensor<B, 2>>,
    /// The candidates, in the column order of `α`.
    #[module(skip)]
    pub candidates: Nb201CandidateSet,
    /// Links the rule layers to the output (DFA) and to the alignment probe.
    #[module(skip)]
    pub hub: RuleHub,
}

impl Nb201SupernetConfig {
    /// Builds the supernet, or says why the rule set gives no candidates.
    pub fn init<B: RuleBackend>(&self, device: &B::Device) -> Result<Nb201Supernet<B>, SpaceError> {
        let candidates = Nb201CandidateSet::new(&self.rules)?;
        crate::error::check_scale(self.channels, self.cells_per_stage, "cells_per_stage")?;
        let hub = RuleHub::new(self.classes);
        let skeleton = Nb201Skeleton::new(
            self.channels,
            self.cells_per_stage,
            self.classes,
            (self.skeleton_rule, hub),
            device,
        );
        let cells = (0..STAGES)
            .flat_map(|s| std::iter::repeat_n(self.channels << s, self.cells_per_stage))
            .map(|c| Nb201SearchCell::new(c, &candidates, hub, device))
            .collect();
        let dist = Distribution::Normal(0.0, self.alpha_init_std);
        let alpha = Tensor::random([EDGES, candidates.len()], dist, device);
        Ok(Nb201Supernet {
            skeleton,
            cells,
            alpha: Param::from_tensor(alpha),
            candidates,
            hub,
        })
    }
}

impl<B: RuleBackend> Nb201Supernet<B> {
    /// Class logits with mixing weights `softmax(α)` (row-wise).
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_weights(images, softmax(self.alpha.val(), 1))
    }

    /// Class logits with the given mixing weights (`[6, candidates]`) instead of
    /// `softmax(α)`.
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - weights: `[6, candidates]`
    /// - output: `[batch, classes]`
    pub fn forward_weights(&self, images: Tensor<B, 4>, weights: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::join_parameter_graphs(self);
        let logits = self
            .skeleton
            .forward(images, &self.cells, NormMode::Auto, |cell, x| {
                cell.forward(x, weights.clone())
            });
        self.hub.tap(logits)
    }
}

impl<B: Backend> Nb201Supernet<B> {
    /// The genotype `α` encodes: on each edge the candidate of largest `α`, `none`
    /// included (NAS-Bench-201's DARTS rule; ties go to the earlier candidate).
    pub fn genotype(&self) -> Nb201Genotype {
        let k = self.candidates.len();
        let values = self
            .alpha
            .val()
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        let candidates = self.candidates.candidates();
        let best = |edge: usize| {
            let row = values.get(edge * k..(edge + 1) * k).unwrap_or(&[]);
            let strongest = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |acc, (i, &a)| if a > acc.1 { (i, a) } else { acc },
                );
            candidates[strongest.0]
        };
        Nb201Genotype {
            edges: std::array::from_fn(best),
        }
    }

    /// `softmax(α)` as nested vectors `[edge][candidate]`.
    pub fn alpha_weights(&self) -> Vec<Vec<f32>> {
        let values = softmax(self.alpha.val(), 1)
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        values
            .chunks(self.candidates.len())
            .map(<[f32]>::to_vec)
            .collect()
    }
}

impl<B: RuleBackend> SearchSupernet<B> for Nb201Supernet<B> {
    type Genotype = Nb201Genotype;

    fn logits(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward(images)
    }

    fn logits_mixed(&self, images: Tensor<B, 4>, weights: &[Tensor<B, 2>]) -> Tensor<B, 2> {
        self.forward_weights(images, weights[0].clone())
    }

    fn alphas(&self) -> Vec<Param<Tensor<B, 2>>> {
        vec![self.alpha.clone()]
    }

    fn with_alphas(mut self, values: Vec<Tensor<B, 2>>) -> Self {
        if let Some(v) = values.into_iter().next() {
            self.alpha = self
                .alpha
                .map(|old| v.detach().set_require_grad(old.is_require_grad()));
        }
        self
    }

    fn derive(&self) -> Nb201Genotype {
        self.genotype()
    }

    fn rule_hub(&self) -> RuleHub {
        self.hub
    }
}
