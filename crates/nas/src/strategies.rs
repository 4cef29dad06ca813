//! How the architecture parameters move at each step of a supernet search: first-order
//! DARTS, second-order DARTS and the evolution-guided update of EG-NAS, each an
//! [`ArchitectureStrategy`].
//!
//! # EG-NAS
//! After `warmup_epochs` epochs in which only the weights learn, every `every` steps one
//! CMA-ES generation runs in the space of mixing weights: `λ` points are drawn around the
//! current `p = softmax(α)` (all `α` matrices flattened), each projected onto the simplex
//! row by row (negative entries set to zero, rows renormalised), and scored on the step's
//! validation batch by
//!
//! ```text
//! fitness(x_i) = L_val(w, x_i) − γ · mean_{j ≠ i} (1 − cos(x_i, x_j))
//! ```
//!
//! (lower is better; the second term rewards samples unlike the rest of the population).
//! CMA-ES learns from the ranking, and `α` moves toward the best projected sample:
//! `α ← α + η · (x* − p)`. The CMA-ES state lives across generations and is saved in
//! checkpoints; only its mean is re-centred on `p` before each generation.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use datasets::ImageBatch;
use search_space::SearchSupernet;

use crate::checkpoint::{corrupt, record_from_bytes, record_to_bytes};
use crate::cmaes::CmaEs;
use crate::search::WeightOptimizer;
use crate::unrolled::{Losses, unrolled_gradient};
use crate::{ArchOptim, EgNasConfig, NasError, Result, SearchConfig, Strategy};

/// What an architecture update sees at one step.
pub struct ArchInputs<'a, B: AutodiffBackend, M: AutodiffModule<B>> {
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based step within the epoch.
    pub step: usize,
    /// A batch of the architecture half (DARTS' validation batch).
    pub valid: &'a ImageBatch<B>,
    /// The batch the following weight step trains on.
    pub train: &'a ImageBatch<B>,
    /// The weights' learning rate in this epoch (second-order DARTS' `ξ`).
    pub lr: f64,
    /// The weight optimiser, with its state (for a virtual step).
    pub weight_optimizer: &'a WeightOptimizer<B, M>,
}

/// One way of updating the architecture parameters of a supernet `M`.
pub trait ArchitectureStrategy<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// A short name.
    fn name(&self) -> &'static str;
    /// Updates `α`; returns the model and the loss of the architecture objective.
    fn update(&mut self, model: M, inputs: ArchInputs<'_, B, M>) -> Result<(M, f32)>;
    /// The strategy's own state (optimiser moments, CMA-ES), for a checkpoint.
    fn save(&self) -> Result<Vec<u8>>;
    /// Restores what [`save`](ArchitectureStrategy::save) wrote; `path` names the file.
    fn load(&mut self, bytes: &[u8], device: &B::Device, path: &Path) -> Result<()>;
}

/// The strategy `config.strategy` names (random search has none: it uses no supernet).
pub(crate) fn strategy_for<B, M>(
    config: &SearchConfig,
    device: &B::Device,
) -> Box<dyn ArchitectureStrategy<B, M>>
where
    B: AutodiffBackend,
    M: SearchSupernet<B> + AutodiffModule<B> + 'static,
{
    match &config.strategy {
        Strategy::DartsSecondOrder => Box::new(SecondOrder(FirstOrder::new(&config.arch, device))),
        Strategy::EgNas(c) => Box::new(EvolutionGuided::new(c.clone(), config.seed, device)),
        Strategy::Darts | Strategy::Random(_) => Box::new(FirstOrder::new(&config.arch, device)),
    }
}

/// Checks a loss value.
fn finite(value: f32, epoch: usize, step: usize) -> Result<f32> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NasError::Diverged {
            phase: "architecture",
            epoch,
            step,
            value,
        })
    }
}

fn scalar<B: burn::tensor::backend::Backend>(loss: &Tensor<B, 1>) -> f32 {
    loss.clone().into_scalar().elem::<f32>()
}

/// First-order DARTS: an Adam step on `∇α L_val(w, α)`.
pub struct FirstOrder<B: AutodiffBackend, M: AutodiffModule<B>> {
    optimizer: OptimizerAdaptor<Adam, M, B>,
    settings: ArchOptim,
    loss: CrossEntropyLoss<B>,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> FirstOrder<B, M> {
    /// Adam with the given settings.
    pub fn new(settings: &ArchOptim, device: &B::Device) -> Self {
        Self {
            optimizer: adam(settings),
            settings: settings.clone(),
            loss: CrossEntropyLossConfig::new().init(device),
        }
    }

    fn apply(&mut self, model: M, grads: GradientsParams) -> M {
        self.optimizer.step(self.settings.lr, model, grads)
    }

    fn save_optimizer(&self) -> Result<Vec<u8>> {
        record_to_bytes::<B, _>(self.optimizer.to_record())
    }

    fn load_optimizer(&mut self, bytes: &[u8], device: &B::Device, path: &Path) -> Result<()> {
        let record = record_from_bytes::<B, _>(bytes, device, path, "architecture optimiser")?;
        self.optimizer = adam(&self.settings).load_record(record);
        Ok(())
    }
}

fn adam<B: AutodiffBackend, M: AutodiffModule<B>>(a: &ArchOptim) -> OptimizerAdaptor<Adam, M, B> {
    AdamConfig::new()
        .with_beta_1(a.beta1 as f32)
        .with_beta_2(a.beta2 as f32)
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(a.weight_decay as f32)))
        .init::<B, M>()
}

impl<B, M> ArchitectureStrategy<B, M> for FirstOrder<B, M>
where
    B: AutodiffBackend,
    M: SearchSupernet<B> + AutodiffModule<B>,
{
    fn name(&self) -> &'static str {
        "darts"
    }

    fn update(&mut self, model: M, inputs: ArchInputs<'_, B, M>) -> Result<(M, f32)> {
        let batch = inputs.valid.clone();
        let loss = self.loss.forward(model.logits(batch.images), batch.targets);
        let value = finite(scalar(&loss), inputs.epoch, inputs.step)?;
        let mut grads = loss.backward();
        let ids = model.alpha_param_ids();
        let grads = GradientsParams::from_params(&mut grads, &model, &ids);
        Ok((self.apply(model, grads), value))
    }

    fn save(&self) -> Result<Vec<u8>> {
        self.save_optimizer()
    }

    fn load(&mut self, bytes: &[u8], device: &B::Device, path: &Path) -> Result<()> {
        self.load_optimizer(bytes, device, path)
    }
}

/// Second-order DARTS: an Adam step on the gradient through one virtual step of the weight
/// optimiser (its momentum and weight decay included, no clipping, as in DARTS), with
/// the Hessian-vector product by central differences around the current weights.
pub struct SecondOrder<B: AutodiffBackend, M: AutodiffModule<B>>(FirstOrder<B, M>);

/// The losses of one step's two batches.
struct BatchLosses<'a, B: AutodiffBackend> {
    train: &'a ImageBatch<B>,
    valid: &'a ImageBatch<B>,
    loss: &'a CrossEntropyLoss<B>,
    epoch: usize,
    step: usize,
}

impl<B: AutodiffBackend, M: SearchSupernet<B>> Losses<B, M> for BatchLosses<'_, B> {
    fn train(&mut self, model: &M) -> Result<Tensor<B, 1>> {
        let b = self.train.clone();
        let loss = self.loss.forward(model.logits(b.images), b.targets);
        finite(scalar(&loss), self.epoch, self.step)?;
        Ok(loss)
    }

    fn valid(&mut self, model: &M) -> Result<Tensor<B, 1>> {
        let b = self.valid.clone();
        let loss = self.loss.forward(model.logits(b.images), b.targets);
        finite(scalar(&loss), self.epoch, self.step)?;
        Ok(loss)
    }
}

impl<B, M> ArchitectureStrategy<B, M> for SecondOrder<B, M>
where
    B: AutodiffBackend,
    M: SearchSupernet<B> + AutodiffModule<B>,
{
    fn name(&self) -> &'static str {
        "darts_second_order"
    }

    fn update(&mut self, model: M, inputs: ArchInputs<'_, B, M>) -> Result<(M, f32)> {
        let ids = model.alpha_param_ids();
        let lr = inputs.lr;
        let mut virtual_optimizer = inputs.weight_optimizer.clone();
        let mut losses = BatchLosses {
            train: inputs.train,
            valid: inputs.valid,
            loss: &self.0.loss,
            epoch: inputs.epoch,
            step: inputs.step,
        };
        let (grads, value) = unrolled_gradient(
            &model,
            &ids,
            lr,
            |m, g| virtual_optimizer.step(lr, m, g),
            &mut losses,
        )?;
        Ok((self.0.apply(model, grads), value))
    }

    fn save(&self) -> Result<Vec<u8>> {
        self.0.save_optimizer()
    }

    fn load(&mut self, bytes: &[u8], device: &B::Device, path: &Path) -> Result<()> {
        self.0.load_optimizer(bytes, device, path)
    }
}

/// The evolution-guided update of EG-NAS (see the module documentation).
pub struct EvolutionGuided<B: AutodiffBackend> {
    config: EgNasConfig,
    seed: u64,
    cma: Option<CmaEs>,
    loss: CrossEntropyLoss<B>,
}

impl<B: AutodiffBackend> EvolutionGuided<B> {
    /// A strategy that creates its CMA-ES at the first generation.
    pub fn new(config: EgNasConfig, seed: u64, device: &B::Device) -> Self {
        Self {
            config,
            seed: seed ^ 0xC3A5_C85C_97CB_3127,
            cma: None,
            loss: CrossEntropyLossConfig::new().init(device),
        }
    }

    /// The validation loss of `model` with mixing weights `weights` (no gradient).
    fn score<M: SearchSupernet<B>>(
        &self,
        model: &M,
        batch: &ImageBatch<B>,
        weights: Option<&[Tensor<B, 2>]>,
    ) -> f32 {
        let images = batch.images.clone();
        let logits = match weights {
            Some(w) => model.logits_mixed(images, w),
            None => model.logits(images),
        };
        scalar(&self.loss.forward(logits, batch.targets.clone()))
    }
}

/// Row-wise softmax of each matrix, flattened, and the matrices' shapes.
fn mixing<B: burn::tensor::backend::Backend>(
    alphas: &[Tensor<B, 2>],
) -> (Vec<f64>, Vec<[usize; 2]>) {
    let mut flat = Vec::new();
    let mut shapes = Vec::new();
    for alpha in alphas {
        shapes.push(alpha.dims());
        let p = softmax(alpha.clone(), 1).into_data().convert::<f64>();
        flat.extend(p.to_vec::<f64>().unwrap_or_default());
    }
    (flat, shapes)
}

/// Each row of each matrix clamped at zero and renormalised (uniform if nothing is left).
fn project(point: &[f64], shapes: &[[usize; 2]]) -> Vec<f64> {
    let mut out = Vec::with_capacity(point.len());
    let mut at = 0;
    for &[rows, cols] in shapes {
        for _ in 0..rows {
            let row: Vec<f64> = point[at..at + cols].iter().map(|v| v.max(0.0)).collect();
            let total: f64 = row.iter().sum();
            if total > 0.0 {
                out.extend(row.iter().map(|v| v / total));
            } else {
                out.extend(std::iter::repeat_n(1.0 / cols as f64, cols));
            }
            at += cols;
        }
    }
    out
}

/// Mean cosine distance of each point to the others.
fn diversity(points: &[Vec<f64>]) -> Vec<f64> {
    let norm = |a: &[f64]| a.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    let cos = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (norm(a) * norm(b))
    };
    let n = points.len();
    (0..n)
        .map(|i| {
            let total: f64 = (0..n)
                .filter(|&j| j != i)
                .map(|j| 1.0 - cos(&points[i], &points[j]))
                .sum();
            total / (n - 1).max(1) as f64
        })
        .collect()
}

fn matrices<B: burn::tensor::backend::Backend>(
    flat: &[f64],
    shapes: &[[usize; 2]],
    device: &B::Device,
) -> Vec<Tensor<B, 2>> {
    let mut at = 0;
    shapes
        .iter()
        .map(|&[r, c]| {
            let values: Vec<f32> = flat[at..at + r * c].iter().map(|&v| v as f32).collect();
            at += r * c;
            Tensor::from_data(TensorData::new(values, [r, c]), device)
        })
        .collect()
}

impl<B, M> ArchitectureStrategy<B, M> for EvolutionGuided<B>
where
    B: AutodiffBackend,
    M: SearchSupernet<B> + AutodiffModule<B>,
{
    fn name(&self) -> &'static str {
        "eg_nas"
    }

    fn update(&mut self, model: M, inputs: ArchInputs<'_, B, M>) -> Result<(M, f32)> {
        let frozen = model.clone().no_grad();
        let generation = inputs.epoch >= self.config.warmup_epochs
            && inputs.step.is_multiple_of(self.config.every);
        if !generation {
            let value = self.score(&frozen, inputs.valid, None);
            return Ok((model, finite(value, inputs.epoch, inputs.step)?));
        }
        let alphas: Vec<Tensor<B, 2>> = model.alphas().iter().map(|a| a.val()).collect();
        let device = alphas[0].device();
        let (p, shapes) = mixing(&alphas);
        let c = &self.config;
        let cma = self
            .cma
            .get_or_insert_with(|| CmaEs::new(p.clone(), c.sigma, c.population, self.seed));
        cma.recenter(&p);
        let population = cma.ask();
        let projected: Vec<Vec<f64>> = population
            .points
            .iter()
            .map(|x| project(x, &shapes))
            .collect();
        let spread = diversity(&projected);
        let mut losses = Vec::with_capacity(projected.len());
        for x in &projected {
            let weights = matrices::<B>(x, &shapes, &device);
            let value = self.score(&frozen, inputs.valid, Some(&weights));
            losses.push(finite(value, inputs.epoch, inputs.step)?);
        }
        let fitness: Vec<f64> = losses
            .iter()
            .zip(&spread)
            .map(|(&l, d)| l as f64 - self.config.diversity * d)
            .collect();
        if let Some(cma) = self.cma.as_mut() {
            cma.tell(&population, &fitness);
        }
        let best = (0..fitness.len())
            .min_by(|&a, &b| fitness[a].total_cmp(&fitness[b]))
            .unwrap_or(0);
        let step = self.config.step;
        let moved: Vec<f64> = projected[best]
            .iter()
            .zip(&p)
            .map(|(x, p)| step * (x - p))
            .collect();
        let deltas = matrices::<B>(&moved, &shapes, &device);
        let updated = alphas
            .into_iter()
            .zip(deltas)
            .map(|(a, d)| a.detach() + d)
            .collect();
        Ok((model.with_alphas(updated), losses[best]))
    }

    fn save(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.cma).map_err(|e| NasError::Checkpoint {
            path: Default::default(),
            reason: format!("cannot encode the CMA-ES state: {e}"),
        })
    }

    fn load(&mut self, bytes: &[u8], _device: &B::Device, path: &Path) -> Result<()> {
        self.cma = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(path, format!("the CMA-ES state is not valid: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_and_diversity() {
        let shapes = [[1, 3], [1, 2]];
        let p = project(&[0.5, -0.2, 0.5, -1.0, -2.0], &shapes);
        assert_eq!(p, vec![0.5, 0.0, 0.5, 0.5, 0.5]);
        let d = diversity(&[vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]]);
        assert!((d[0] - 0.5).abs() < 1e-12 && (d[1] - 1.0).abs() < 1e-12);
    }
}
