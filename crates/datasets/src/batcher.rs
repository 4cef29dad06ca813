//! Turning CIFAR-10 items into Burn tensors.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::cifar::CifarItem;
use crate::format::{CHANNELS, IMAGE_BYTES, IMAGE_SIZE};
use crate::transform::{Augmentation, Normalization, Placement};

/// Counts calls of the [`Batcher`] impl, to give each call its own random stream.
static BATCH_CALLS: AtomicU64 = AtomicU64::new(0);

/// A batch of images and their labels.
#[derive(Clone, Debug)]
pub struct ImageBatch<B: Backend> {
    /// Images, shape `[N, 3, H, W]`: normalised when made by [`CifarBatcher`] (32x32), in
    /// `[0, 1]` and not normalised when made by [`crate::ImageDataset::batch`].
    pub images: Tensor<B, 4>,
    /// Class indices, shape `[N]`.
    pub targets: Tensor<B, 1, Int>,
}

/// Turns items into tensors.
///
/// For every image: bytes are cast to `f32` and divided by 255, then (if `augmentation` is
/// set) a random crop of the zero-padded image is taken and mirrored with probability 0.5,
/// then each channel is normalised with `normalization`. The padding is black in `[0, 1]`
/// space, as with torchvision's `RandomCrop(32, padding=4)` before `Normalize`, so padded
/// pixels end up as `(0 - mean) / std`, not 0. All of this runs on CPU buffers, and each
/// batch becomes a tensor with a single `Tensor::from_data`.
#[derive(Clone, Debug)]
pub struct CifarBatcher {
    /// Per-channel normalisation.
    pub normalization: Normalization,
    /// Random crop and flip; `None` for evaluation.
    pub augmentation: Option<Augmentation>,
}

impl Default for CifarBatcher {
    fn default() -> Self {
        Self::eval()
    }
}

impl CifarBatcher {
    /// A batcher with the given settings.
    pub fn new(normalization: Normalization, augmentation: Option<Augmentation>) -> Self {
        Self {
            normalization,
            augmentation,
        }
    }

    /// CIFAR-10 normalisation with the standard augmentation (padding 4, flips).
    pub fn train() -> Self {
        Self::new(Normalization::CIFAR10, Some(Augmentation::STANDARD))
    }

    /// CIFAR-10 normalisation without augmentation.
    pub fn eval() -> Self {
        Self::new(Normalization::CIFAR10, None)
    }

    /// The batch as a flat `N * 3 * 32 * 32` buffer (NCHW), drawing augmentation from `rng`.
    ///
    /// Images are drawn in order; see [`Augmentation::draw`] for the draws per image. Without
    /// augmentation `rng` is not touched.
    pub fn to_buffer(&self, items: &[&CifarItem], rng: &mut StdRng) -> Vec<f32> {
        let table = self.normalization.table();
        let mut out = vec![0f32; items.len() * IMAGE_BYTES];
        for (item, chunk) in items.iter().zip(out.chunks_exact_mut(IMAGE_BYTES)) {
            let placement = match &self.augmentation {
                Some(aug) => aug.draw(rng),
                None => Placement::default(),
            };
            placement.render(&item.image, &table, chunk);
        }
        out
    }

    /// Makes a batch on `device`; deterministic given the state of `rng`.
    pub fn batch_with_rng<B: Backend>(
        &self,
        items: &[&CifarItem],
        rng: &mut StdRng,
        device: &B::Device,
    ) -> ImageBatch<B> {
        let n = items.len();
        let pixels = self.to_buffer(items, rng);
        let shape = [n, CHANNELS, IMAGE_SIZE, IMAGE_SIZE];
        let images = Tensor::from_data(TensorData::new(pixels, shape), device);
        let labels: Vec<i64> = items
            .iter()
            .map(|i| i64::try_from(i.label).unwrap_or(i64::MAX))
            .collect();
        let targets = Tensor::from_data(TensorData::new(labels, [n]), device);
        ImageBatch { images, targets }
    }
}

/// For Burn's `DataLoader`. Each call seeds its own [`StdRng`] from a process-wide call
/// counter, so augmentation differs from call to call and is repeatable only for the same
/// sequence of calls in a fresh process. Use [`CifarBatcher::batch_with_rng`] for full control.
impl<B: Backend> Batcher<B, CifarItem, ImageBatch<B>> for CifarBatcher {
    fn batch(&self, items: Vec<CifarItem>, device: &B::Device) -> ImageBatch<B> {
        let call = BATCH_CALLS.fetch_add(1, Ordering::Relaxed);
        let mut rng = StdRng::seed_from_u64(call ^ 0x9E37_79B9_7F4A_7C15);
        let refs: Vec<&CifarItem> = items.iter().collect();
        self.batch_with_rng(&refs, &mut rng, device)
    }
}
