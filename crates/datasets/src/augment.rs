//! The DARTS augmentation recipe for small planar images (CIFAR, ImageNet16), in `[0, 1]`
//! pixel space: random crop of the zero-padded image, horizontal flip, optional cutout.

use burn::tensor::backend::Backend;
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::batcher::ImageBatch;
use crate::dataset::{Mode, check_indices, make_batch};
use crate::error::Result;
use crate::transform::{Augmentation, Placement};

/// Cutout (DeVries & Taylor, 2017) as DARTS applies it after crop and flip: a
/// `length x length` square centred on a uniformly drawn pixel, clipped at the borders, is
/// filled with the data set's per-channel mean, so that it becomes 0 after normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cutout {
    /// Side of the square, in pixels. The square spans `[c - length/2, c + length/2)` around
    /// the drawn centre `c` on each axis (integer division), as in the DARTS code.
    pub length: usize,
}

impl Cutout {
    /// The DARTS setting for CIFAR: 16 pixels.
    pub const DARTS: Self = Self { length: 16 };

    /// Fills the square in `out` (one CHW image of `size x size`) with `fill[c]`.
    ///
    /// Draws the centre row, then the centre column, each uniform in `0..size`.
    pub(crate) fn apply(&self, size: usize, fill: [f32; 3], rng: &mut StdRng, out: &mut [f32]) {
        if size == 0 || self.length == 0 {
            return;
        }
        let cy = rng.random_range(0..size);
        let cx = rng.random_range(0..size);
        let half = self.length / 2;
        let (y0, y1) = (cy.saturating_sub(half), (cy + half).min(size));
        let (x0, x1) = (cx.saturating_sub(half), (cx + half).min(size));
        for (plane, value) in out.chunks_exact_mut(size * size).zip(fill) {
            for row in plane.chunks_exact_mut(size).take(y1).skip(y0) {
                row[x0..x1].fill(value);
            }
        }
    }
}

/// How one data set of square planar images is augmented in [`Mode::Train`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlanarRecipe {
    /// Height and width of the images.
    pub size: usize,
    /// Crop padding and flip.
    pub augmentation: Augmentation,
    /// Optional cutout, after crop and flip.
    pub cutout: Option<Cutout>,
    /// Cutout fill per channel (the data set's mean, in `[0, 1]` units).
    pub fill: [f32; 3],
}

impl PlanarRecipe {
    /// Builds a batch; `item(i)` gives the planar bytes (`3 * size * size`) and label of `i`.
    ///
    /// Per image, in order: crop row, crop column, flip coin ([`Augmentation::draw`]), then
    /// the cutout centre row and column. In [`Mode::Eval`] nothing is drawn.
    pub fn batch<'a, B: Backend>(
        &self,
        len: usize,
        item: impl Fn(usize) -> (&'a [u8], usize),
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<ImageBatch<B>> {
        check_indices(indices, len)?;
        let image_len = 3 * self.size * self.size;
        let mut pixels = vec![0f32; indices.len() * image_len];
        let mut labels = Vec::with_capacity(indices.len());
        for (&index, out) in indices.iter().zip(pixels.chunks_exact_mut(image_len)) {
            let (image, label) = item(index);
            let placement = match mode {
                Mode::Train => self.augmentation.draw(rng),
                Mode::Eval => Placement::default(),
            };
            render_unit(image, self.size, &placement, out);
            if let (Mode::Train, Some(cutout)) = (mode, self.cutout) {
                cutout.apply(self.size, self.fill, rng, out);
            }
            labels.push(label);
        }
        Ok(make_batch(pixels, &labels, [self.size, self.size], device))
    }
}

/// Writes `image` (planar, `3 x size x size` bytes) placed by `placement` into `out` as
/// `byte / 255`; pixels outside the source (the zero padding) are 0.
///
/// Output pixel `(y, x)` reads source `(y + dy, x' + dx)`, `x' = size - 1 - x` when flipped.
pub(crate) fn render_unit(image: &[u8], size: usize, placement: &Placement, out: &mut [f32]) {
    let n = size as i64;
    let plane = size * size;
    for (i, v) in out.iter_mut().enumerate().take(3 * plane) {
        let (c, y, x) = (i / plane, (i / size) % size, i % size);
        let x = if placement.flip { size - 1 - x } else { x };
        let (sy, sx) = (y as i64 + placement.dy, x as i64 + placement.dx);
        let byte = if (0..n).contains(&sy) && (0..n).contains(&sx) {
            let src = c * plane + (sy as usize) * size + sx as usize;
            image.get(src).copied().unwrap_or(0)
        } else {
            0
        };
        *v = f32::from(byte) / 255.0;
    }
}
