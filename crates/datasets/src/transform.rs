//! Per-channel normalisation and random crop/flip augmentation, on CPU buffers.

use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::cifar::CifarItem;
use crate::format::{CHANNELS, IMAGE_SIZE, PLANE_BYTES};

/// Largest crop padding honoured; larger values are clamped to it (the crop is blank anyway).
pub const MAX_CROP_PADDING: usize = 1024;

/// Per-channel mean and standard deviation, applied to pixels already scaled to `[0, 1]`:
/// `x' = (x / 255 - mean[c]) / std[c]`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Normalization {
    /// Mean of each channel (R, G, B), in `[0, 1]` units.
    pub mean: [f32; 3],
    /// Standard deviation of each channel (R, G, B), in `[0, 1]` units; must not be 0.
    pub std: [f32; 3],
}

impl Normalization {
    /// CIFAR-10 training-set statistics (population mean/std over all 50,000 images).
    ///
    /// They agree with the values measured on the full training set
    /// (0.49139968, 0.48215841, 0.44653091 / 0.24703223, 0.24348513, 0.26158784) to better
    /// than 3e-6; see [`Normalization::compute`] to measure them yourself.
    pub const CIFAR10: Self = Self {
        mean: [0.491_399_68, 0.482_158_27, 0.446_53],
        std: [0.247_032_33, 0.243_485_05, 0.261_59],
    };

    /// CIFAR-100 training-set statistics (population mean/std over all 50,000 images), as
    /// widely published for the official data.
    pub const CIFAR100: Self = Self {
        mean: [0.507_075_2, 0.486_548_9, 0.440_917_8],
        std: [0.267_334_3, 0.256_438_5, 0.276_150_5],
    };

    /// ImageNet16-120 statistics as NAS-Bench-201 uses them: mean `[122.68, 116.66, 104.01]`
    /// and std `[63.22, 61.26, 65.09]`, divided by 255.
    pub const IMAGENET16: Self = Self {
        mean: [122.68 / 255.0, 116.66 / 255.0, 104.01 / 255.0],
        std: [63.22 / 255.0, 61.26 / 255.0, 65.09 / 255.0],
    };

    /// The usual ImageNet statistics (torchvision's `[0.485, 0.456, 0.406]` /
    /// `[0.229, 0.224, 0.225]`).
    pub const IMAGENET: Self = Self {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// No normalisation beyond scaling to `[0, 1]` (mean 0, std 1).
    pub const IDENTITY: Self = Self {
        mean: [0.0; 3],
        std: [1.0; 3],
    };

    /// Measures the per-channel mean and population std of `items` (pixels scaled to `[0, 1]`).
    ///
    /// Returns `None` when there are no items. Only the first 3072 bytes of each image count.
    pub fn compute(items: &[CifarItem]) -> Option<Self> {
        if items.is_empty() {
            return None;
        }
        let (mut sum, mut sq, mut count) = ([0f64; 3], [0f64; 3], [0u64; 3]);
        for item in items {
            for (i, &b) in item.image.iter().take(CHANNELS * PLANE_BYTES).enumerate() {
                let (c, v) = (i / PLANE_BYTES, f64::from(b) / 255.0);
                sum[c] += v;
                sq[c] += v * v;
                count[c] += 1;
            }
        }
        Some(Self::from_sums(sum, sq, count))
    }

    fn from_sums(sum: [f64; 3], sq: [f64; 3], count: [u64; 3]) -> Self {
        let mut out = Self::IDENTITY;
        for c in 0..CHANNELS {
            let n = count[c].max(1) as f64;
            let mean = sum[c] / n;
            out.mean[c] = mean as f32;
            out.std[c] = (sq[c] / n - mean * mean).max(0.0).sqrt() as f32;
        }
        out
    }

    /// A lookup table: for each channel, the normalised value of every byte `0..=255`.
    ///
    /// Each entry is computed as `(f32::from(byte) / 255.0 - mean) / std`: the byte is cast to
    /// `f32` before dividing, never divided as an integer.
    pub fn table(&self) -> [[f32; 256]; 3] {
        let mut table = [[0f32; 256]; 3];
        for (c, row) in table.iter_mut().enumerate() {
            for (b, v) in row.iter_mut().enumerate() {
                let x = f32::from(b as u8) / 255.0;
                *v = (x - self.mean[c]) / self.std[c];
            }
        }
        table
    }
}

impl Default for Normalization {
    fn default() -> Self {
        Self::CIFAR10
    }
}

/// Training-time augmentation, as torchvision's `RandomCrop(32, padding)` followed by
/// `RandomHorizontalFlip(0.5)`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Augmentation {
    /// Zero pixels added on every side before taking a random 32x32 crop (0 = no crop).
    pub crop_padding: usize,
    /// Mirror left-right with probability 0.5.
    pub horizontal_flip: bool,
}

impl Augmentation {
    /// The usual CIFAR-10 recipe: padding 4 and random horizontal flips.
    pub const STANDARD: Self = Self {
        crop_padding: 4,
        horizontal_flip: true,
    };

    /// Draws where to crop and whether to flip one image.
    ///
    /// Draw order (fixed, for reproducibility): crop row offset, crop column offset (both only
    /// when `crop_padding > 0`), then the flip coin (only when `horizontal_flip`).
    pub fn draw(&self, rng: &mut StdRng) -> Placement {
        let pad = self.crop_padding.min(MAX_CROP_PADDING) as i64;
        let (mut dy, mut dx) = (0, 0);
        if pad > 0 {
            dy = rng.random_range(-pad..=pad);
            dx = rng.random_range(-pad..=pad);
        }
        let flip = self.horizontal_flip && rng.random_bool(0.5);
        Placement { dy, dx, flip }
    }
}

/// Where one augmented image is taken from: output pixel `(y, x)` reads source pixel
/// `(y + dy, x' + dx)` where `x' = 31 - x` if `flip`, else `x`; outside the image it reads 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Row shift of the crop window, in `-padding..=padding`.
    pub dy: i64,
    /// Column shift of the crop window, in `-padding..=padding`.
    pub dx: i64,
    /// Whether the crop is mirrored left-right.
    pub flip: bool,
}

impl Placement {
    /// Writes the normalised, placed image into `out` (3072 floats, CHW).
    ///
    /// Pixels outside the source image are byte 0, i.e. black in `[0, 1]` space, which
    /// becomes `(0 - mean) / std` after normalisation (as torchvision pads before `Normalize`).
    /// Missing bytes of a short image also read as 0.
    pub fn render(&self, image: &[u8], table: &[[f32; 256]; 3], out: &mut [f32]) {
        let n = IMAGE_SIZE as i64;
        for (i, v) in out.iter_mut().enumerate().take(CHANNELS * PLANE_BYTES) {
            let (c, y, x) = (
                i / PLANE_BYTES,
                (i / IMAGE_SIZE) % IMAGE_SIZE,
                i % IMAGE_SIZE,
            );
            let x = if self.flip { IMAGE_SIZE - 1 - x } else { x };
            let (sy, sx) = (y as i64 + self.dy, x as i64 + self.dx);
            let byte = if (0..n).contains(&sy) && (0..n).contains(&sx) {
                let src = c * PLANE_BYTES + (sy as usize) * IMAGE_SIZE + sx as usize;
                image.get(src).copied().unwrap_or(0)
            } else {
                0
            };
            *v = table[c][usize::from(byte)];
        }
    }
}
