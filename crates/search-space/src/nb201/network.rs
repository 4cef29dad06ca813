//! The final NAS-Bench-201 network built from a genotype.

use bio_rules::{LearningRule, RuleBackend, RuleHub};
use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::{Nb201Cell, Nb201Genotype, Nb201Skeleton, STAGES};
use crate::{NormMode, SpaceError};

/// Configuration of a final [`Nb201Network`] built from a genotype.
#[derive(Config, Debug)]
pub struct Nb201NetworkConfig {
    /// The cell, repeated in every stage.
    pub genotype: Nb201Genotype,
    /// Channels `C` of the first stage; the second and third run at `2C` and `4C`
    /// (default 16, as NAS-Bench-201).
    #[config(default = 16)]
    pub channels: usize,
    /// Cells per stage, `N` (default 5, as NAS-Bench-201).
    #[config(default = 5)]
    pub cells_per_stage: usize,
    /// Number of classes (default 10).
    #[config(default = 10)]
    pub classes: usize,
    /// Rule of the stem, residual blocks and classifier (default BP).
    #[config(default = "LearningRule::Bp")]
    pub skeleton_rule: LearningRule,
}

/// A NAS-Bench-201 network of one genotype's cell, with affine batch norms.
#[derive(Module, Debug)]
pub struct Nb201Network<B: Backend> {
    /// Stem, residual blocks and head.
    pub skeleton: Nb201Skeleton<B>,
    /// The `3N` cells, stage by stage.
    pub cells: Vec<Nb201Cell<B>>,
    /// Links the rule layers to the output (DFA) and to the alignment probe.
    #[module(skip)]
    pub hub: RuleHub,
}

impl Nb201NetworkConfig {
    /// Builds the network, or says what is wrong with the genotype or the sizes.
    pub fn init<B: RuleBackend>(&self, device: &B::Device) -> Result<Nb201Network<B>, SpaceError> {
        self.genotype.validate()?;
        if self.channels == 0 || self.cells_per_stage == 0 || self.classes == 0 {
            return Err(SpaceError::Size(
                "channels, cells_per_stage and classes must be at least 1".to_string(),
            ));
        }
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
            .map(|c| Nb201Cell::new(c, &self.genotype, hub, device))
            .collect();
        Ok(Nb201Network {
            skeleton,
            cells,
            hub,
        })
    }
}

impl<B: RuleBackend> Nb201Network<B> {
    /// Class logits, batch norms in [`NormMode::Auto`].
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_mode(images, NormMode::Auto)
    }

    /// An evaluation pass on any backend: running batch-norm statistics (left unchanged);
    /// gradients still flow to the input, for attacks.
    ///
    /// # Shapes
    /// As [`Self::forward`].
    pub fn forward_eval(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_mode(images, NormMode::Running)
    }

    /// Class logits with the batch norms in `mode`.
    ///
    /// # Shapes
    /// As [`Self::forward`].
    pub fn forward_mode(&self, images: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 2> {
        crate::join_parameter_graphs(self);
        let logits = self
            .skeleton
            .forward(images, &self.cells, mode, |cell, x| cell.forward(x, mode));
        self.hub.tap(logits)
    }
}
