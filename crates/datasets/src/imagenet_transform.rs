//! ImageNet-style transforms of decoded images, in `[0, 1]` pixel space.
//!
//! * training: torchvision's `RandomResizedCrop(size, scale, ratio)`, then
//!   `RandomHorizontalFlip(0.5)`, then (optionally) `ColorJitter`;
//! * evaluation: `Resize(resize)` (shorter side) then `CenterCrop(crop)`.
//!
//! Resizing uses the `image` crate's triangle (bilinear) filter, which widens its support
//! when shrinking, like PIL's antialiased bilinear resize. Colour jitter works on `f32`
//! values (torchvision's tensor path), not on quantised bytes.

use image::RgbImage;
use image::imageops::{self, FilterType};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

/// Random colour changes, as torchvision's `ColorJitter(brightness, contrast, saturation,
/// hue)`.
///
/// Each non-zero strength `s` draws a factor: brightness, contrast and saturation uniformly in
/// `[max(0, 1 - s), 1 + s]`, hue uniformly in `[-s, s]` (`s <= 0.5`). The four operations are
/// applied in a random order, each result clamped to `[0, 1]`:
/// brightness `x * f`; contrast `f * x + (1 - f) * m` with `m` the mean grey level of the
/// image; saturation `f * x + (1 - f) * g` with `g` the pixel's grey level
/// (`0.2989 R + 0.587 G + 0.114 B`); hue shifts the HSV hue by `f` turns.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColorJitter {
    /// Brightness strength (0 = off).
    pub brightness: f32,
    /// Contrast strength (0 = off).
    pub contrast: f32,
    /// Saturation strength (0 = off).
    pub saturation: f32,
    /// Hue strength in turns, at most 0.5 (0 = off).
    pub hue: f32,
}

impl ColorJitter {
    /// Brightness, contrast and saturation 0.4, no hue change (the common ImageNet recipe).
    pub const STANDARD: Self = Self {
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.4,
        hue: 0.0,
    };

    /// [`ColorJitter::STANDARD`] plus hue 0.1.
    pub const WITH_HUE: Self = Self {
        hue: 0.1,
        ..Self::STANDARD
    };

    /// Draws the order and the factors, then changes `image` (CHW, `[0, 1]`) in place.
    ///
    /// Draw order (as torchvision): a permutation of the four operations, then one factor for
    /// each non-zero strength, in the order brightness, contrast, saturation, hue.
    pub(crate) fn apply(&self, image: &mut [f32], rng: &mut StdRng) {
        let mut order = [0usize, 1, 2, 3];
        order.shuffle(rng);
        let mut factor = |s: f32, hue: bool| {
            if s <= 0.0 {
                None
            } else if hue {
                let s = s.min(0.5);
                Some(rng.random_range(-s..=s))
            } else {
                Some(rng.random_range((1.0 - s).max(0.0)..=1.0 + s))
            }
        };
        let factors = [
            factor(self.brightness, false),
            factor(self.contrast, false),
            factor(self.saturation, false),
            factor(self.hue, true),
        ];
        for op in order {
            match (op, factors[op]) {
                (0, Some(f)) => image.iter_mut().for_each(|v| *v = (*v * f).clamp(0.0, 1.0)),
                (1, Some(f)) => adjust_contrast(image, f),
                (2, Some(f)) => adjust_saturation(image, f),
                (3, Some(f)) => adjust_hue(image, f),
                _ => {}
            }
        }
    }
}

/// How an image folder's images become tensors. Sizes are in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FolderTransform {
    /// Output side in training (default 224).
    pub train_size: usize,
    /// Range of the crop's area as a fraction of the image's (default `[0.08, 1.0]`).
    pub scale: [f64; 2],
    /// Range of the crop's aspect ratio, width / height (default `[3/4, 4/3]`).
    pub ratio: [f64; 2],
    /// Mirror left-right with probability 0.5 in training (default true).
    pub horizontal_flip: bool,
    /// Colour jitter in training (default [`ColorJitter::STANDARD`]; `None` = off).
    pub color_jitter: Option<ColorJitter>,
    /// Shorter side after resizing for evaluation (default 256).
    pub eval_resize: usize,
    /// Side of the evaluation centre crop (default 224).
    pub eval_crop: usize,
}

impl FolderTransform {
    /// The standard ImageNet recipe: 224 training crops, resize 256 and centre crop 224.
    pub const IMAGENET: Self = Self {
        train_size: 224,
        scale: [0.08, 1.0],
        ratio: [3.0 / 4.0, 4.0 / 3.0],
        horizontal_flip: true,
        color_jitter: Some(ColorJitter::STANDARD),
        eval_resize: 256,
        eval_crop: 224,
    };

    /// The ImageNet recipe at other sizes (for tests and CPU runs): training crops of
    /// `train_size`, evaluation resize to `eval_resize` and centre crop `eval_crop`.
    pub fn sized(train_size: usize, eval_resize: usize, eval_crop: usize) -> Self {
        Self {
            train_size,
            eval_resize,
            eval_crop,
            ..Self::IMAGENET
        }
    }

    /// Side of the output images in the given mode.
    pub fn output_size(&self, train: bool) -> usize {
        if train {
            self.train_size
        } else {
            self.eval_crop
        }
    }

    /// The training transform of one image into `out` (CHW, `train_size` squared per plane).
    ///
    /// Draw order: the crop ([`random_resized_crop`]), the flip coin, then the jitter.
    pub(crate) fn train(&self, image: &RgbImage, rng: &mut StdRng, out: &mut [f32]) {
        let size = self.train_size as u32;
        let crop = random_resized_crop(image.width(), image.height(), self.scale, self.ratio, rng);
        let view = imageops::crop_imm(image, crop.left, crop.top, crop.width, crop.height);
        let resized = imageops::resize(&*view, size, size, FilterType::Triangle);
        let flip = self.horizontal_flip && rng.random_bool(0.5);
        to_chw(&resized, 0, 0, self.train_size, flip, out);
        if let Some(jitter) = &self.color_jitter {
            jitter.apply(out, rng);
        }
    }

    /// The evaluation transform of one image into `out` (CHW, `eval_crop` squared per plane).
    ///
    /// The shorter side becomes `eval_resize` and the longer `eval_resize * long / short`
    /// (truncated), then the centre `eval_crop` square is taken, offsets rounded as
    /// torchvision does; where the crop is larger than the image it reads black.
    pub(crate) fn eval(&self, image: &RgbImage, out: &mut [f32]) {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let short = w.min(h).max(1);
        let target = self.eval_resize.max(1);
        let (nw, nh) = if w <= h {
            (target, (target * h / short).max(1))
        } else {
            ((target * w / short).max(1), target)
        };
        let resized = imageops::resize(image, nw as u32, nh as u32, FilterType::Triangle);
        let offset = |n: usize| ((n as f64 - self.eval_crop as f64) / 2.0).round() as i64;
        to_chw(&resized, offset(nh), offset(nw), self.eval_crop, false, out);
    }
}

impl Default for FolderTransform {
    fn default() -> Self {
        Self::IMAGENET
    }
}

/// A crop window in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropWindow {
    /// First row.
    pub top: u32,
    /// First column.
    pub left: u32,
    /// Number of rows.
    pub height: u32,
    /// Number of columns.
    pub width: u32,
}

/// Draws a crop window as torchvision's `RandomResizedCrop.get_params`.
///
/// Up to 10 tries: draw an area fraction uniformly in `scale` and a log aspect ratio uniformly
/// in `ln(ratio)`; the window is `round(sqrt(area * r))` wide and `round(sqrt(area / r))`
/// high; if it fits, draw its top row and then its left column uniformly and return it.
/// After 10 failures, fall back to a centre crop of the whole image, narrowed to the nearest
/// allowed ratio when the image's own ratio is outside `ratio`.
pub fn random_resized_crop(
    width: u32,
    height: u32,
    scale: [f64; 2],
    ratio: [f64; 2],
    rng: &mut StdRng,
) -> CropWindow {
    let area = f64::from(width) * f64::from(height);
    let (log_lo, log_hi) = (ratio[0].ln(), ratio[1].ln());
    for _ in 0..10 {
        let target = area * uniform(rng, scale[0], scale[1]);
        let aspect = uniform(rng, log_lo, log_hi).exp();
        let w = (target * aspect).sqrt().round_ties_even();
        let h = (target / aspect).sqrt().round_ties_even();
        if w > 0.0 && h > 0.0 && w <= f64::from(width) && h <= f64::from(height) {
            let (w, h) = (w as u32, h as u32);
            let top = rng.random_range(0..=height - h);
            let left = rng.random_range(0..=width - w);
            return CropWindow {
                top,
                left,
                height: h,
                width: w,
            };
        }
    }
    centre_fallback(width, height, ratio)
}

fn centre_fallback(width: u32, height: u32, ratio: [f64; 2]) -> CropWindow {
    let in_ratio = f64::from(width) / f64::from(height.max(1));
    let (lo, hi) = (ratio[0].min(ratio[1]), ratio[0].max(ratio[1]));
    let (w, h) = if in_ratio < lo {
        let h = (f64::from(width) / lo).round_ties_even() as u32;
        (width, h.min(height))
    } else if in_ratio > hi {
        let w = (f64::from(height) * hi).round_ties_even() as u32;
        (w.min(width), height)
    } else {
        (width, height)
    };
    CropWindow {
        top: (height - h) / 2,
        left: (width - w) / 2,
        height: h,
        width: w,
    }
}

/// Uniform in `[lo, hi)`, or `lo` when the range is empty (as `torch.empty(1).uniform_`).
fn uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    lo + (hi - lo) * u
}

/// Copies the `size x size` window at (`top`, `left`) of `image` into `out` as CHW `[0, 1]`
/// values, mirrored when `flip`; pixels outside the image are 0.
fn to_chw(image: &RgbImage, top: i64, left: i64, size: usize, flip: bool, out: &mut [f32]) {
    let plane = size * size;
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    for y in 0..size {
        for x in 0..size {
            let sx = if flip { size - 1 - x } else { x };
            let (sy, sx) = (top + y as i64, left + sx as i64);
            let pixel = if (0..h).contains(&sy) && (0..w).contains(&sx) {
                image.get_pixel(sx as u32, sy as u32).0
            } else {
                [0; 3]
            };
            for (c, value) in pixel.into_iter().enumerate() {
                out[c * plane + y * size + x] = f32::from(value) / 255.0;
            }
        }
    }
}

/// Grey level of one pixel, with torchvision's weights.
fn grey(r: f32, g: f32, b: f32) -> f32 {
    0.2989 * r + 0.587 * g + 0.114 * b
}

fn adjust_contrast(image: &mut [f32], f: f32) {
    let plane = image.len() / 3;
    if plane == 0 {
        return;
    }
    let (r, rest) = image.split_at(plane);
    let (g, b) = rest.split_at(plane);
    let sum: f32 = (0..plane).map(|i| grey(r[i], g[i], b[i])).sum();
    let mean = sum / plane as f32;
    for v in image.iter_mut() {
        *v = (f * *v + (1.0 - f) * mean).clamp(0.0, 1.0);
    }
}

fn adjust_saturation(image: &mut [f32], f: f32) {
    let plane = image.len() / 3;
    for i in 0..plane {
        let g = grey(image[i], image[plane + i], image[2 * plane + i]);
        for c in 0..3 {
            let v = &mut image[c * plane + i];
            *v = (f * *v + (1.0 - f) * g).clamp(0.0, 1.0);
        }
    }
}

fn adjust_hue(image: &mut [f32], shift: f32) {
    let plane = image.len() / 3;
    for i in 0..plane {
        let rgb = [image[i], image[plane + i], image[2 * plane + i]];
        let [h, s, v] = rgb_to_hsv(rgb);
        let out = hsv_to_rgb([(h + shift).rem_euclid(1.0), s, v]);
        for (c, value) in out.into_iter().enumerate() {
            image[c * plane + i] = value.clamp(0.0, 1.0);
        }
    }
}

/// RGB to HSV, all in `[0, 1]` (hue in turns).
fn rgb_to_hsv([r, g, b]: [f32; 3]) -> [f32; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    if delta <= 0.0 {
        return [0.0, 0.0, max];
    }
    let h = if max == r {
        ((g - b) / delta).rem_euclid(6.0)
    } else if max == g {
        (b - r) / delta + 2.0
    } else {
        (r - g) / delta + 4.0
    };
    [h / 6.0, delta / max, max]
}

/// HSV (hue in turns) to RGB.
fn hsv_to_rgb([h, s, v]: [f32; 3]) -> [f32; 3] {
    let h6 = h * 6.0;
    let sector = h6.floor();
    let frac = h6 - sector;
    let (p, q, t) = (
        v * (1.0 - s),
        v * (1.0 - s * frac),
        v * (1.0 - s * (1.0 - frac)),
    );
    match (sector as i64).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_round_trip() {
        for rgb in [
            [0.2, 0.5, 0.9],
            [1.0, 0.0, 0.0],
            [0.3, 0.3, 0.3],
            [0.9, 0.8, 0.1],
        ] {
            let back = hsv_to_rgb(rgb_to_hsv(rgb));
            for c in 0..3 {
                assert!((back[c] - rgb[c]).abs() < 1e-5, "{rgb:?} -> {back:?}");
            }
        }
    }

    #[test]
    fn a_third_of_a_turn_of_hue_rotates_red_to_green() {
        let mut image = vec![0.9, 0.2, 0.1]; // one pixel: R, G, B planes
        adjust_hue(&mut image, 1.0 / 3.0);
        assert!((image[0] - 0.1).abs() < 1e-5 && (image[1] - 0.9).abs() < 1e-5);
        assert!((image[2] - 0.2).abs() < 1e-5, "{image:?}");
    }

    #[test]
    fn contrast_zero_gives_the_mean_grey_and_saturation_zero_the_pixel_grey() {
        let mut a = vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        adjust_contrast(&mut a, 0.0);
        let m = 0.2989 / 2.0;
        assert!(a.iter().all(|v| (v - m).abs() < 1e-6), "{a:?}");
        let mut b = vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        adjust_saturation(&mut b, 0.0);
        assert!(
            (b[0] - 0.8859).abs() < 1e-4 && (b[1] - 0.0).abs() < 1e-6,
            "{b:?}"
        );
    }
}
