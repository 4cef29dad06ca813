//! The search supernet, and the parts it shares with the final network.

use bio_rules::RuleLinearConfig;
use bio_rules::{LearningRule, RuleBackend, RuleConv2d, RuleConv2dConfig, RuleHub, RuleLinear};
use burn::config::Config;
use burn::module::{Module, Param, ParamId};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

use crate::cell::{CellSpec, SEARCH_EDGES, SearchCell};
use crate::genotype::{CellGenotype, Genotype, GenotypeEdge, STEPS};
use crate::space::SearchSupernet;
use crate::{BatchNorm2d, BatchNorm2dConfig, CandidateSet, NormMode, SpaceError};

/// Input image channels.
pub(crate) const IMAGE_CHANNELS: usize = 3;

/// The stem: a 3×3 convolution to `stem_multiplier · C` channels and a batch norm.
#[derive(Module, Debug)]
pub struct Stem<B: Backend> {
    /// The convolution.
    pub conv: RuleConv2d<B>,
    /// The batch norm (affine).
    pub bn: BatchNorm2d<B>,
}

impl<B: RuleBackend> Stem<B> {
    pub(crate) fn new(
        channels: usize,
        rule: LearningRule,
        hub: RuleHub,
        device: &B::Device,
    ) -> Self {
        let conv = RuleConv2dConfig::new([IMAGE_CHANNELS, channels], [3, 3])
            .with_padding([1, 1])
            .with_rule(rule)
            .init_with_hub(hub, device);
        Self {
            conv,
            bn: BatchNorm2dConfig::new(channels).init(device),
        }
    }

    /// # Shapes
    /// `[batch, 3, h, w]` to `[batch, channels, h, w]`
    pub fn forward(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        self.bn.forward_mode(self.conv.forward(x), mode)
    }
}

/// The channel plan of a DARTS network: cells at `L/3` and `2L/3` reduce and double the
/// channels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CellPlan {
    /// Initial channels `C`.
    pub channels: usize,
    /// Number of cells.
    pub layers: usize,
    /// Channels of the stem's two outputs (older, newer).
    pub inputs: (usize, usize),
    /// Whether the stem already halved the older input's resolution relative to the newer
    /// (the ImageNet stem), so the first cell reduces it.
    pub reduction_prev: bool,
    /// Search supernet (non-affine batch norms) or final network.
    pub search: bool,
    /// Rule of the skeleton.
    pub skeleton_rule: LearningRule,
    /// The network's hub.
    pub hub: RuleHub,
}

impl CellPlan {
    /// The cells' specs and the channels of the last cell's output;
    /// `multiplier(reduction)` is the number of nodes a cell of that kind concatenates.
    pub fn specs(self, multiplier: impl Fn(bool) -> usize) -> (Vec<CellSpec>, usize) {
        let (mut c_prev_prev, mut c_prev) = self.inputs;
        let mut c = self.channels;
        let mut reduction_prev = self.reduction_prev;
        let mut specs = Vec::with_capacity(self.layers);
        for i in 0..self.layers {
            let reduction = is_reduction(i, self.layers);
            if reduction {
                c *= 2;
            }
            specs.push(CellSpec {
                c_prev_prev,
                c_prev,
                channels: c,
                reduction,
                reduction_prev,
                search: self.search,
                skeleton_rule: self.skeleton_rule,
                hub: self.hub,
            });
            reduction_prev = reduction;
            (c_prev_prev, c_prev) = (c_prev, multiplier(reduction) * c);
        }
        (specs, c_prev)
    }
}

/// Whether cell `index` of `layers` is a reduction cell (`L/3` and `2L/3`).
pub(crate) fn is_reduction(index: usize, layers: usize) -> bool {
    index == layers / 3 || index == 2 * layers / 3
}

/// Configuration of the search [`Supernet`].
#[derive(Config, Debug)]
pub struct SupernetConfig {
    /// Initial channels `C` (paper: 16).
    #[config(default = 16)]
    pub channels: usize,
    /// Number of cells (paper: 8).
    #[config(default = 8)]
    pub layers: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub classes: usize,
    /// Stem width as a multiple of `C` (default 3).
    #[config(default = 3)]
    pub stem_multiplier: usize,
    /// The rules the convolution candidates choose from (default: FA, uSF, brSF, frSF).
    #[config(default = "LearningRule::PAPER.to_vec()")]
    pub rules: Vec<LearningRule>,
    /// Rule of the stem, preprocessing, stride-2 skips and classifier (default BP).
    #[config(default = "LearningRule::Bp")]
    pub skeleton_rule: LearningRule,
    /// Standard deviation of the initial architecture weights (default 1e-3).
    #[config(default = 1e-3)]
    pub alpha_init_std: f64,
    /// PC-DARTS' partial channels: each edge's candidates see `1/k` of its channels
    /// (default 1, every channel, plain DARTS). `channels` must be a multiple of `k`.
    #[config(default = 1)]
    pub partial_channels: usize,
}

/// The DARTS supernet: every edge a softmax-weighted mixture of all candidates, one
/// architecture matrix `α` (`[14, candidates]`) per cell type.
#[derive(Module, Debug)]
pub struct Supernet<B: Backend> {
    /// The stem.
    pub stem: Stem<B>,
    /// The cells.
    pub cells: Vec<SearchCell<B>>,
    /// The classifier after global average pooling.
    pub classifier: RuleLinear<B>,
    /// Architecture weights of the normal cells.
    pub alpha_normal: Param<Tensor<B, 2>>,
    /// Architecture weights of the reduction cells.
    pub alpha_reduce: Param<Tensor<B, 2>>,
    /// PC-DARTS' edge normalisation of the normal cells, `[1, 14]`: node `i`'s incoming
    /// edges are weighted by the softmax of their entries (with partial channels only).
    pub beta_normal: Option<Param<Tensor<B, 2>>>,
    /// The same for the reduction cells.
    pub beta_reduce: Option<Param<Tensor<B, 2>>>,
    /// The candidates, in the column order of the `α` matrices.
    #[module(skip)]
    pub candidates: CandidateSet,
    /// Links the rule layers to the output (DFA) and to the alignment probe.
    #[module(skip)]
    pub hub: RuleHub,
}

impl SupernetConfig {
    /// Builds the supernet, or says why the rule set gives no candidates.
    pub fn init<B: RuleBackend>(&self, device: &B::Device) -> Result<Supernet<B>, SpaceError> {
        let candidates = CandidateSet::new(&self.rules)?;
        crate::error::check_scale(self.channels, self.layers, "layers")?;
        let k = self.partial_channels;
        if k == 0 || !self.channels.is_multiple_of(k) {
            return Err(SpaceError::PartialChannels {
                channels: self.channels,
                k,
            });
        }
        let hub = RuleHub::new(self.classes);
        let stem = self.stem_multiplier * self.channels;
        let (specs, c_last) = CellPlan {
            channels: self.channels,
            layers: self.layers,
            inputs: (stem, stem),
            reduction_prev: false,
            search: true,
            skeleton_rule: self.skeleton_rule,
            hub,
        }
        .specs(|_| STEPS);
        let cells = specs
            .into_iter()
            .map(|s| SearchCell::partial(s, &candidates, k, device))
            .collect();
        let alpha = || {
            let dist = Distribution::Normal(0.0, self.alpha_init_std);
            Param::from_tensor(Tensor::random(
                [SEARCH_EDGES, candidates.len()],
                dist,
                device,
            ))
        };
        let beta = || {
            (k > 1).then(|| {
                let dist = Distribution::Normal(0.0, self.alpha_init_std);
                Param::from_tensor(Tensor::random([1, SEARCH_EDGES], dist, device))
            })
        };
        Ok(Supernet {
            beta_normal: beta(),
            beta_reduce: beta(),
            stem: Stem::new(
                self.stem_multiplier * self.channels,
                self.skeleton_rule,
                hub,
                device,
            ),
            cells,
            classifier: RuleLinearConfig::new(c_last, self.classes)
                .with_rule(self.skeleton_rule)
                .init_with_hub(hub, device),
            hub,
            alpha_normal: alpha(),
            alpha_reduce: alpha(),
            candidates,
        })
    }
}

impl<B: RuleBackend> Supernet<B> {
    /// Class logits.
    ///
    /// # Shapes
    /// - images: `[batch, 3, height, width]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let normal = softmax(self.alpha_normal.val(), 1);
        let reduce = softmax(self.alpha_reduce.val(), 1);
        self.forward_weights(images, normal, reduce)
    }

    /// Class logits with the given mixing weights (`[14, candidates]` each) instead of
    /// `softmax(α)`.
    pub fn forward_weights(
        &self,
        images: Tensor<B, 4>,
        normal: Tensor<B, 2>,
        reduce: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        crate::join_parameter_graphs(self);
        let edges_normal = self.beta_normal.as_ref().map(edge_weights);
        let edges_reduce = self.beta_reduce.as_ref().map(edge_weights);
        let stem = self.stem.forward(images, NormMode::Auto);
        let out = chain_cells(stem.clone(), stem, &self.cells, |cell, s0, s1| {
            let (weights, edges) = if cell.reduction {
                (&reduce, &edges_reduce)
            } else {
                (&normal, &edges_normal)
            };
            cell.forward_normalised(s0, s1, weights.clone(), edges.clone())
        });
        self.hub
            .tap(self.classifier.forward(global_average_pool(out)))
    }
}

impl<B: RuleBackend> SearchSupernet<B> for Supernet<B> {
    type Genotype = Genotype;

    fn logits(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward(images)
    }

    fn logits_mixed(&self, images: Tensor<B, 4>, weights: &[Tensor<B, 2>]) -> Tensor<B, 2> {
        let [normal, reduce] = [0, 1].map(|i| weights[i].clone());
        self.forward_weights(images, normal, reduce)
    }

    fn alphas(&self) -> Vec<Param<Tensor<B, 2>>> {
        vec![self.alpha_normal.clone(), self.alpha_reduce.clone()]
    }

    fn with_alphas(mut self, values: Vec<Tensor<B, 2>>) -> Self {
        let mut values = values.into_iter();
        let mut replace = |param: Param<Tensor<B, 2>>| match values.next() {
            Some(v) => param.map(|old| v.detach().set_require_grad(old.is_require_grad())),
            None => param,
        };
        self.alpha_normal = replace(self.alpha_normal);
        self.alpha_reduce = replace(self.alpha_reduce);
        self
    }

    fn derive(&self) -> Genotype {
        self.genotype()
    }

    fn rule_hub(&self) -> RuleHub {
        self.hub
    }

    fn alpha_param_ids(&self) -> Vec<ParamId> {
        let betas = [&self.beta_normal, &self.beta_reduce];
        let betas = betas.into_iter().flatten().map(|b| b.id);
        self.alpha_ids().into_iter().chain(betas).collect()
    }
}

/// Each node's incoming edges weighted by the softmax of their `β` entries, `[14]`.
fn edge_weights<B: Backend>(beta: &Param<Tensor<B, 2>>) -> Tensor<B, 1> {
    let flat = beta.val().reshape([SEARCH_EDGES]);
    let mut parts = Vec::with_capacity(STEPS);
    let mut start = 0;
    for node in 0..STEPS {
        let inputs = node + 2;
        parts.push(softmax(flat.clone().narrow(0, start, inputs), 0));
        start += inputs;
    }
    Tensor::cat(parts, 0)
}

impl<B: Backend> Supernet<B> {
    /// The ids of the two architecture parameters, for an optimiser of `α` alone.
    pub fn alpha_ids(&self) -> [ParamId; 2] {
        [self.alpha_normal.id, self.alpha_reduce.id]
    }

    /// The genotype the current `α` encodes (DARTS' rule): for each node keep the two
    /// incoming edges whose strongest non-`none` weight is largest, and on each the
    /// strongest non-`none` candidate. With edge normalisation (PC-DARTS), each edge's
    /// weights are multiplied by its normalised `β` first.
    pub fn genotype(&self) -> Genotype {
        let cell = |alpha: &Param<Tensor<B, 2>>, beta: &Option<Param<Tensor<B, 2>>>| {
            let mut weights = softmax(alpha.val(), 1);
            if let Some(beta) = beta {
                weights = weights * edge_weights(beta).reshape([SEARCH_EDGES, 1]);
            }
            let values = weights
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .unwrap_or_default();
            derive_cell(&values, &self.candidates)
        };
        Genotype {
            normal: cell(&self.alpha_normal, &self.beta_normal),
            reduce: cell(&self.alpha_reduce, &self.beta_reduce),
        }
    }

    /// Softmax of both `α` matrices as nested vectors `[edge][candidate]` (normal, reduce).
    pub fn alpha_weights(&self) -> [Vec<Vec<f32>>; 2] {
        [&self.alpha_normal, &self.alpha_reduce].map(|alpha| {
            let weights = softmax(alpha.val(), 1);
            let k = self.candidates.len();
            let values = weights
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .unwrap_or_default();
            values.chunks(k).map(<[f32]>::to_vec).collect()
        })
    }
}

/// Derives one cell's genotype from softmax weights laid out `[edge][candidate]`.
pub fn derive_cell(weights: &[f32], candidates: &CandidateSet) -> CellGenotype {
    let k = candidates.len();
    let none = candidates.none_index();
    let best = |edge: usize| -> (usize, f32) {
        let row = &weights[edge * k..(edge + 1) * k];
        row.iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != none)
            .fold(
                (0, f32::NEG_INFINITY),
                |acc, (i, &w)| if w > acc.1 { (i, w) } else { acc },
            )
    };
    let mut edges = Vec::with_capacity(2 * STEPS);
    let mut start = 0;
    for node in 0..STEPS {
        let inputs = node + 2;
        let mut ranked: Vec<usize> = (0..inputs).collect();
        ranked.sort_by(|&a, &b| best(start + b).1.total_cmp(&best(start + a).1));
        let mut kept = ranked[..2].to_vec();
        kept.sort_unstable();
        for input in kept {
            let candidate = candidates.candidates()[best(start + input).0];
            edges.push(GenotypeEdge::new(candidate, input));
        }
        start += inputs;
    }
    CellGenotype {
        edges,
        concat: (2..2 + STEPS).collect(),
    }
}

/// Runs the cells in order, each reading the outputs of the two before it (`s0`, `s1`
/// stand for them at the start); returns the last output.
pub(crate) fn chain_cells<B: Backend, C>(
    mut s0: Tensor<B, 4>,
    mut s1: Tensor<B, 4>,
    cells: &[C],
    mut apply: impl FnMut(&C, Tensor<B, 4>, Tensor<B, 4>) -> Tensor<B, 4>,
) -> Tensor<B, 4> {
    for cell in cells {
        let out = apply(cell, s0, s1.clone());
        (s0, s1) = (s1, out);
    }
    s1
}

/// `[batch, channels, h, w]` to `[batch, channels]`.
pub(crate) fn global_average_pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, _, _] = x.dims();
    x.mean_dims(&[2, 3]).reshape([n, c])
}
