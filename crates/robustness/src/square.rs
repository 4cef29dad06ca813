//! Square attack, L∞ (Andriushchenko et al. 2020): score-based random search.

use crate::attack::Attack;
use crate::batch::{self, Batch};
use crate::classifier::Classifier;
use crate::error::{self, Result, RobustnessError};
use crate::noise;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand::Rng;
use rand::rngs::StdRng;

/// Default query budget per image.
pub const SQUARE_QUERIES: usize = 5000;
/// Default initial fraction of pixels changed per step.
pub const SQUARE_P_INIT: f32 = 0.05;
/// The schedule of the fraction `p`, on iterations rescaled to `0..=10000`: up to each
/// bound (inclusive), `p = p_init / divisor`; up to 10 and past 10000, `p = p_init`.
const P_SCHEDULE: [(usize, f32); 10] = [
    (10, 1.0),
    (50, 2.0),
    (200, 4.0),
    (500, 8.0),
    (1000, 16.0),
    (2000, 32.0),
    (4000, 64.0),
    (6000, 128.0),
    (8000, 256.0),
    (10000, 512.0),
];
/// Redraws of a square's signs before giving up on making it differ from the current one.
const MAX_REDRAWS: usize = 16;
/// Two values closer than this count as equal when comparing windows.
const SAME: f32 = 1e-7;

/// Random search on the margin loss `m(x') = f_y(x') − max_{k≠y} f_k(x')`, with forward
/// passes only.
///
/// Start: every column of every channel is shifted by `±ε` (vertical stripes). Then, for
/// iterations `i = 1, 2, ...` while an image is still classified correctly (`m > 0`) and its
/// queries last: a square of side `s = round(√(p(i) · h · w))` (between 1 and
/// `min(h, w) − 1`) at a random place gets, per channel, a random perturbation `±ε`; the
/// candidate is kept if it lowers the margin. `p(i)` halves along the paper's schedule
/// ([`Square::fraction`]). Each iteration is one forward pass on the images still standing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Square {
    /// L∞ radius ε in pixel units; finite, `>= 0`.
    pub epsilon: f32,
    /// Forward passes allowed per image, the starting one included; at least 1. Default
    /// [`SQUARE_QUERIES`].
    pub queries: usize,
    /// Initial fraction `p_init` of an image's pixels in a square, in `(0, 1]`. Default
    /// [`SQUARE_P_INIT`].
    pub p_init: f32,
}

impl Square {
    /// Square with radius `epsilon`, 5000 queries and `p_init = 0.05`.
    pub fn new(epsilon: f32) -> Self {
        Self {
            epsilon,
            queries: SQUARE_QUERIES,
            p_init: SQUARE_P_INIT,
        }
    }

    /// The fraction `p` of pixels in the square at `iteration` of a budget of
    /// [`Square::queries`]: `p_init` divided by 1, 2, 4, ... 512 as `iteration / queries`
    /// passes 0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, and `p_init` again past 1.
    pub fn fraction(&self, iteration: usize) -> f32 {
        let rescaled = iteration * 10_000 / self.queries.max(1);
        let divisor = P_SCHEDULE
            .iter()
            .find(|&&(bound, _)| rescaled <= bound)
            .map_or(1.0, |&(_, divisor)| divisor);
        self.p_init / divisor
    }

    /// Checks every parameter.
    fn validate(&self) -> Result<()> {
        error::non_negative("Square", "epsilon", self.epsilon)?;
        error::positive("Square", "queries", self.queries)?;
        if self.p_init > 0.0 && self.p_init <= 1.0 {
            Ok(())
        } else {
            Err(RobustnessError::InvalidParameter {
                context: "Square",
                parameter: "p_init",
                value: f64::from(self.p_init),
                expected: "a fraction in (0, 1]",
            })
        }
    }

    /// The side of the square at `iteration` for images of `height × width`.
    fn side(&self, iteration: usize, height: usize, width: usize) -> usize {
        let area = f64::from(self.fraction(iteration)) * (height * width) as f64;
        let largest = height.min(width).saturating_sub(1).max(1);
        (area.sqrt().round() as usize).clamp(1, largest)
    }
}

/// The search state of one batch, on the host.
struct Search {
    /// `[n, c, h, w]`.
    dims: [usize; 4],
    /// The clean images, row-major.
    clean: Vec<f32>,
    /// The best adversarial images so far.
    best: Vec<f32>,
    /// Their margins.
    margins: Vec<f32>,
}

impl Search {
    /// Values per image.
    fn image_len(&self) -> usize {
        self.dims[1] * self.dims[2] * self.dims[3]
    }

    /// The best image `i` so far, and its clean original.
    fn image(&self, i: usize) -> (&[f32], &[f32]) {
        let range = i * self.image_len()..(i + 1) * self.image_len();
        (&self.best[range.clone()], &self.clean[range])
    }

    /// The vertical-stripe start: each column of each channel shifted by `±ε`.
    fn stripes(&mut self, rng: &mut StdRng, epsilon: f32) {
        let [n, c, h, w] = self.dims;
        for plane in 0..n * c {
            for col in 0..w {
                let shift = noise::random_sign(rng, epsilon);
                for row in 0..h {
                    let at = plane * h * w + row * w + col;
                    self.best[at] = (self.clean[at] + shift).clamp(0.0, 1.0);
                }
            }
        }
    }
}

impl Square {
    /// A candidate for image `i`: its best so far with one square set to `x ± ε` per
    /// channel, redrawn (a few times at most) until it differs from the best.
    fn propose(&self, rng: &mut StdRng, search: &Search, i: usize, side: usize) -> Vec<f32> {
        let [_, c, h, w] = search.dims;
        let (best, clean) = search.image(i);
        let mut candidate = best.to_vec();
        let top = rng.random_range(0..=h - side);
        let left = rng.random_range(0..=w - side);
        let cells: Vec<usize> = (top..top + side)
            .flat_map(|row| (left..left + side).map(move |col| row * w + col))
            .collect();
        for _ in 0..MAX_REDRAWS {
            let mut changed = false;
            for ch in 0..c {
                let shift = noise::random_sign(rng, self.epsilon);
                for at in cells.iter().map(|cell| ch * h * w + cell) {
                    candidate[at] = (clean[at] + shift).clamp(0.0, 1.0);
                    changed |= (candidate[at] - best[at]).abs() >= SAME;
                }
            }
            if changed {
                break;
            }
        }
        candidate
    }
}

impl<B: AutodiffBackend> Attack<B> for Square {
    fn name(&self) -> &str {
        "Square"
    }

    fn epsilon(&self) -> Option<f32> {
        Some(self.epsilon)
    }

    fn with_epsilon(&self, epsilon: f32) -> Self {
        Self { epsilon, ..*self }
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
        let mut search = Search {
            dims: batch.dims,
            best: clean.clone(),
            clean,
            margins: Vec::new(),
        };
        search.stripes(rng, self.epsilon);
        let (logits, classes) = batch::query(
            model,
            search.best.clone(),
            batch.dims,
            &batch.labels,
            &device,
        )?;
        search.margins = batch::margins(&logits, classes, &batch.labels);
        for iteration in 1..self.queries {
            if !self.step(model, &mut search, &batch, iteration, rng, &device)? {
                break;
            }
        }
        Ok(batch::device_tensor(search.best, batch.dims, &device))
    }
}

impl Square {
    /// One iteration on the images still classified correctly; `false` when none is left.
    fn step<B: AutodiffBackend>(
        &self,
        model: &dyn Classifier<B>,
        search: &mut Search,
        batch: &Batch,
        iteration: usize,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<bool> {
        let active: Vec<usize> = (0..batch.len())
            .filter(|&i| search.margins[i] > 0.0)
            .collect();
        if active.is_empty() {
            return Ok(false);
        }
        let [_, c, h, w] = batch.dims;
        let side = self.side(iteration, h, w);
        let candidates: Vec<Vec<f32>> = active
            .iter()
            .map(|&i| self.propose(rng, search, i, side))
            .collect();
        let labels: Vec<i64> = active.iter().map(|&i| batch.labels[i]).collect();
        let dims = [active.len(), c, h, w];
        let (logits, classes) = batch::query(model, candidates.concat(), dims, &labels, device)?;
        let margins = batch::margins(&logits, classes, &labels);
        let len = search.image_len();
        for ((&i, candidate), margin) in active.iter().zip(candidates).zip(margins) {
            if margin < search.margins[i] {
                search.margins[i] = margin;
                search.best[i * len..(i + 1) * len].copy_from_slice(&candidate);
            }
        }
        Ok(true)
    }
}
