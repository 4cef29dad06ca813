//! The interface the training loop uses for every data set, and index helpers that work with
//! any of them.
//!
//! [`ImageDataset::batch`] returns pixel-space images in `[0, 1]`, shape
//! `[n, 3, h, w]`; the model normalises internally, with the per-data-set statistics of
//! [`Normalization`](crate::Normalization) (`CIFAR10`, `CIFAR100`, `IMAGENET16`, `IMAGENET`).

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::batcher::ImageBatch;
use crate::error::{DataError, Result};

/// Whether a batch is for training (random augmentation) or evaluation (deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Random augmentation, drawn from the caller's generator.
    Train,
    /// No randomness: the generator is not touched.
    Eval,
}

/// A labelled image data set that builds batches of pixel-space images.
pub trait ImageDataset: Send + Sync {
    /// Number of images.
    fn len(&self) -> usize;

    /// Whether empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of classes.
    fn num_classes(&self) -> usize;

    /// Label of image `index` (for stratified splits), without decoding the image.
    ///
    /// Implementations return 0 for an index past the end rather than panicking.
    fn label(&self, index: usize) -> usize;

    /// Builds the batch of `indices`: images `[n, 3, h, w]` with values in [0, 1] (NOT
    /// normalised: the model normalises internally), augmented when `mode` is Train (draws
    /// from `rng`), targets `[n]`. Errors (e.g. an undecodable image file) name the file.
    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<ImageBatch<B>>;
}

impl<D: ImageDataset + ?Sized> ImageDataset for &D {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }

    fn label(&self, index: usize) -> usize {
        (**self).label(index)
    }

    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<ImageBatch<B>> {
        (**self).batch(indices, mode, rng, device)
    }
}

impl<D: ImageDataset + ?Sized> ImageDataset for Arc<D> {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }

    fn label(&self, index: usize) -> usize {
        (**self).label(index)
    }

    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<ImageBatch<B>> {
        (**self).batch(indices, mode, rng, device)
    }
}

/// A view of some images of another data set: index `i` of the subset is image `indices[i]`
/// of the inner one. Works with any [`ImageDataset`], including `&D` and `Arc<D>`.
#[derive(Clone, Debug)]
pub struct Subset<D> {
    inner: D,
    indices: Vec<usize>,
}

impl<D: ImageDataset> Subset<D> {
    /// The images of `inner` at `indices`, in that order; fails on an index past the end.
    pub fn new(inner: D, indices: Vec<usize>) -> Result<Self> {
        check_indices(&indices, inner.len())?;
        Ok(Self { inner, indices })
    }

    /// The inner data set.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Indices into the inner data set.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
}

impl<D: ImageDataset> ImageDataset for Subset<D> {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }

    fn label(&self, index: usize) -> usize {
        self.indices
            .get(index)
            .map_or(0, |&inner| self.inner.label(inner))
    }

    fn batch<B: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Result<ImageBatch<B>> {
        check_indices(indices, self.indices.len())?;
        let inner: Vec<usize> = indices.iter().map(|&i| self.indices[i]).collect();
        self.inner.batch(&inner, mode, rng, device)
    }
}

/// Splits the indices of `data` into two disjoint parts that together cover them, class by
/// class: each class's indices are shuffled with a [`StdRng`] seeded from `seed`, and the first
/// `round(count * fraction)` of them go to the first part.
///
/// Both parts are sorted. `fraction` is clamped to `[0, 1]`; NaN counts as 0.5. The same
/// `(data, fraction, seed)` always gives the same parts. Use [`crate::split_in_two`] for a
/// plain (not stratified) split.
pub fn stratified_split<D: ImageDataset + ?Sized>(
    data: &D,
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let fraction = if fraction.is_nan() {
        0.5
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let mut classes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for index in 0..data.len() {
        classes.entry(data.label(index)).or_default().push(index);
    }

    let mut rng = StdRng::seed_from_u64(seed);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for mut pool in classes.into_values() {
        pool.shuffle(&mut rng);
        let take = ((pool.len() as f64) * fraction).round() as usize;
        let rest = pool.split_off(take.min(pool.len()));
        first.extend(pool);
        second.extend(rest);
    }
    first.sort_unstable();
    second.sort_unstable();
    (first, second)
}

/// Fails with [`DataError::IndexOutOfRange`] on the first index `>= len`.
pub(crate) fn check_indices(indices: &[usize], len: usize) -> Result<()> {
    match indices.iter().find(|&&i| i >= len) {
        Some(&index) => Err(DataError::IndexOutOfRange { index, len }),
        None => Ok(()),
    }
}

/// Turns a flat NCHW pixel buffer and its labels into tensors on `device`.
pub(crate) fn make_batch<B: Backend>(
    pixels: Vec<f32>,
    labels: &[usize],
    [height, width]: [usize; 2],
    device: &B::Device,
) -> ImageBatch<B> {
    let n = labels.len();
    let shape = [n, 3, height, width];
    let images = Tensor::from_data(TensorData::new(pixels, shape), device);
    let labels: Vec<i64> = labels
        .iter()
        .map(|&l| i64::try_from(l).unwrap_or(i64::MAX))
        .collect();
    let targets = Tensor::from_data(TensorData::new(labels, [n]), device);
    ImageBatch { images, targets }
}
