//! One-pixel attack (Su et al. 2019): differential evolution over a few pixels.

use crate::attack::Attack;
use crate::batch::{self, Batch};
use crate::classifier::Classifier;
use crate::error::{self, Result, RobustnessError};
use crate::noise;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand::Rng;
use rand::rngs::StdRng;

/// The paper's population size.
pub const ONE_PIXEL_POPULATION: usize = 400;
/// The paper's number of generations.
pub const ONE_PIXEL_ITERATIONS: usize = 100;
/// The paper's differential weight `F`.
pub const ONE_PIXEL_WEIGHT: f32 = 0.5;
/// The smallest population DE/rand/1 can run with: a member and three others.
const MIN_POPULATION: usize = 4;

/// Untargeted differential evolution over `pixels` pixels, forward passes only; ignores ε.
///
/// A candidate lists, per pixel, its column `x ∈ [0, w)`, row `y ∈ [0, h)` and one value per
/// channel in `[0, 1]`; applied to an image it overwrites those pixels. Its fitness is the
/// softmax probability of the true class (lower is better). The first population draws
/// `x`, `y` uniformly and values from `N(0.5, 0.5²)` clamped to `[0, 1]`. Each generation
/// (DE/rand/1, no crossover) makes, for member `j`, the child `a + F · (b − c)` of three
/// other distinct members, clamped to the ranges; the child replaces `j` if it is fitter.
/// The search for an image stops as soon as a candidate changes its prediction. Images the
/// model already gets wrong are returned unchanged. Each generation is one forward pass of
/// `population` images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnePixel {
    /// Pixels changed per image; at least 1. Default 1.
    pub pixels: usize,
    /// Candidates per generation; at least 4. Default [`ONE_PIXEL_POPULATION`].
    pub population: usize,
    /// Generations after the first population; at least 1. Default
    /// [`ONE_PIXEL_ITERATIONS`].
    pub iterations: usize,
    /// Differential weight `F`; finite, `>= 0`. Default [`ONE_PIXEL_WEIGHT`].
    pub weight: f32,
}

impl Default for OnePixel {
    fn default() -> Self {
        Self {
            pixels: 1,
            population: ONE_PIXEL_POPULATION,
            iterations: ONE_PIXEL_ITERATIONS,
            weight: ONE_PIXEL_WEIGHT,
        }
    }
}

impl OnePixel {
    /// The paper's attack on `pixels` pixels: population 400, 100 generations, `F = 0.5`.
    pub fn new(pixels: usize) -> Self {
        Self {
            pixels,
            ..Self::default()
        }
    }

    /// Checks every parameter.
    fn validate(&self) -> Result<()> {
        error::positive("OnePixel", "pixels", self.pixels)?;
        error::positive("OnePixel", "iterations", self.iterations)?;
        error::non_negative("OnePixel", "weight", self.weight)?;
        if self.population >= MIN_POPULATION {
            Ok(())
        } else {
            Err(RobustnessError::InvalidParameter {
                context: "OnePixel",
                parameter: "population",
                value: self.population as f64,
                expected: "at least 4",
            })
        }
    }
}

/// One image under attack.
struct Target<'a, B: AutodiffBackend> {
    /// The model.
    model: &'a dyn Classifier<B>,
    /// The clean image, row-major `[c, h, w]`.
    image: &'a [f32],
    /// `[c, h, w]`.
    dims: [usize; 3],
    /// The true class.
    label: i64,
    /// Where the model runs.
    device: &'a B::Device,
}

/// How one candidate fared.
#[derive(Clone, Copy)]
struct Score {
    /// Probability of the true class.
    fitness: f32,
    /// Whether the prediction changed.
    fooled: bool,
}

impl<B: AutodiffBackend> Target<'_, B> {
    /// Genes per pixel: column, row and one value per channel.
    fn genes(&self) -> usize {
        2 + self.dims[0]
    }

    /// The image with the candidate's pixels written in.
    fn apply(&self, candidate: &[f32]) -> Vec<f32> {
        let [_, h, w] = self.dims;
        let mut image = self.image.to_vec();
        for pixel in candidate.chunks(self.genes()) {
            let col = (pixel[0].max(0.0) as usize).min(w - 1);
            let row = (pixel[1].max(0.0) as usize).min(h - 1);
            for (ch, &value) in pixel[2..].iter().enumerate() {
                image[ch * h * w + row * w + col] = value;
            }
        }
        image
    }

    /// Clamps a candidate's genes into their ranges (a coordinate equal to the size maps to
    /// the last pixel in [`Target::apply`]).
    fn clamp(&self, candidate: &mut [f32]) {
        let [_, h, w] = self.dims;
        let genes = self.genes();
        for pixel in candidate.chunks_mut(genes) {
            pixel[0] = pixel[0].clamp(0.0, w as f32);
            pixel[1] = pixel[1].clamp(0.0, h as f32);
            for value in &mut pixel[2..] {
                *value = value.clamp(0.0, 1.0);
            }
        }
    }

    /// A random candidate of the first population.
    fn random(&self, rng: &mut StdRng, pixels: usize) -> Vec<f32> {
        let [c, h, w] = self.dims;
        let mut candidate = Vec::with_capacity(pixels * self.genes());
        for _ in 0..pixels {
            candidate.push(rng.random::<f32>() * w as f32);
            candidate.push(rng.random::<f32>() * h as f32);
            candidate.extend((0..c).map(|_| 0.5 + 0.5 * noise::standard_normal(rng)));
        }
        self.clamp(&mut candidate);
        candidate
    }

    /// One forward pass over all candidates.
    fn score(&self, candidates: &[Vec<f32>]) -> Result<Vec<Score>> {
        let [c, h, w] = self.dims;
        let images: Vec<f32> = candidates.iter().flat_map(|x| self.apply(x)).collect();
        let labels = vec![self.label; candidates.len()];
        let dims = [candidates.len(), c, h, w];
        let (logits, classes) = batch::query(self.model, images, dims, &labels, self.device)?;
        let predictions = batch::argmax_rows(&logits, classes);
        let label = self.label as usize;
        Ok(logits
            .chunks(classes)
            .zip(predictions)
            .map(|(row, predicted)| Score {
                fitness: softmax_at(row, label),
                fooled: predicted != label,
            })
            .collect())
    }
}

/// `softmax(row)[k]`, computed stably.
fn softmax_at(row: &[f32], k: usize) -> f32 {
    let top = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = row.iter().map(|&v| (v - top).exp()).sum();
    (row[k] - top).exp() / total
}

impl OnePixel {
    /// Evolves candidates for one image; returns the adversarial image (the fittest
    /// candidate applied, or the first that fools the model).
    fn attack_one<B: AutodiffBackend>(
        &self,
        target: &Target<B>,
        rng: &mut StdRng,
    ) -> Result<Vec<f32>> {
        let mut population: Vec<Vec<f32>> = (0..self.population)
            .map(|_| target.random(rng, self.pixels))
            .collect();
        let mut scores = target.score(&population)?;
        for _ in 0..self.iterations {
            if let Some(j) = scores.iter().position(|s| s.fooled) {
                return Ok(target.apply(&population[j]));
            }
            let children: Vec<Vec<f32>> = (0..self.population)
                .map(|j| self.child(target, &population, j, rng))
                .collect();
            let child_scores = target.score(&children)?;
            for (j, (child, score)) in children.into_iter().zip(child_scores).enumerate() {
                if score.fooled || score.fitness < scores[j].fitness {
                    population[j] = child;
                    scores[j] = score;
                }
            }
        }
        let fittest = (0..self.population)
            .min_by(|&a, &b| {
                let key = |j: usize| (!scores[j].fooled, scores[j].fitness);
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .unwrap_or(0);
        Ok(target.apply(&population[fittest]))
    }

    /// The DE/rand/1 child of member `j`: `a + F · (b − c)` for three distinct others.
    fn child<B: AutodiffBackend>(
        &self,
        target: &Target<B>,
        population: &[Vec<f32>],
        j: usize,
        rng: &mut StdRng,
    ) -> Vec<f32> {
        let mut picks = [j; 3];
        for k in 0..3 {
            let mut pick = j;
            while pick == j || picks[..k].contains(&pick) {
                pick = rng.random_range(0..population.len());
            }
            picks[k] = pick;
        }
        let [a, b, c] = picks.map(|p| &population[p]);
        let mut child: Vec<f32> = (0..a.len())
            .map(|g| a[g] + self.weight * (b[g] - c[g]))
            .collect();
        target.clamp(&mut child);
        child
    }
}

impl<B: AutodiffBackend> Attack<B> for OnePixel {
    fn name(&self) -> &str {
        "OnePixel"
    }

    fn epsilon(&self) -> Option<f32> {
        None
    }

    fn with_epsilon(&self, _epsilon: f32) -> Self {
        *self
    }

    fn perturb(
        &self,
        model: &dyn Classifier<B>,
        images: Tensor<B, 4>,
        labels: Tensor<B, 1, Int>,
        rng: &mut StdRng,
    ) -> Result<Tensor<B, 4>> {
        self.validate()?;
        let batch = Batch::check(&images, &labels)?;
        let device = images.device();
        let clean = batch::host(images.detach());
        let (logits, classes) =
            batch::query(model, clean.clone(), batch.dims, &batch.labels, &device)?;
        let predictions = batch::argmax_rows(&logits, classes);
        let [_, c, h, w] = batch.dims;
        let len = batch.image_len();
        let mut adversarial = clean.clone();
        for (i, image) in clean.chunks(len).enumerate() {
            let label = batch.labels[i];
            if predictions[i] as i64 != label {
                continue;
            }
            let target = Target {
                model,
                image,
                dims: [c, h, w],
                label,
                device: &device,
            };
            let attacked = self.attack_one(&target, rng)?;
            adversarial[i * len..(i + 1) * len].copy_from_slice(&attacked);
        }
        Ok(batch::device_tensor(adversarial, batch.dims, &device))
    }
}
