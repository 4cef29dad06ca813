//! Checks on a batch and small conversions shared by the attacks.

use crate::classifier::Classifier;
use crate::error::{Result, RobustnessError};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};

/// A checked batch: its shape and its labels on the host.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    /// `[n, channels, height, width]`.
    pub dims: [usize; 4],
    /// One label per image, each `>= 0`.
    pub labels: Vec<i64>,
}

impl Batch {
    /// Checks that the batch is not empty, has one label per image, non-negative labels and
    /// pixel values in `[0, 1]`.
    pub fn check<B: Backend>(images: &Tensor<B, 4>, labels: &Tensor<B, 1, Int>) -> Result<Self> {
        let dims = images.dims();
        if dims.contains(&0) {
            return Err(RobustnessError::EmptyInput);
        }
        let labels: Vec<i64> = labels.to_data().iter::<i64>().collect();
        if labels.len() != dims[0] {
            return Err(RobustnessError::LabelCount {
                images: dims[0],
                labels: labels.len(),
            });
        }
        if let Some(&label) = labels.iter().find(|&&l| l < 0) {
            return Err(RobustnessError::LabelOutOfRange { label, classes: 0 });
        }
        check_pixels(images)?;
        Ok(Self { dims, labels })
    }

    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.dims[0]
    }

    /// Values per image: `channels · height · width`.
    pub fn image_len(&self) -> usize {
        self.dims[1] * self.dims[2] * self.dims[3]
    }

    /// The labels as a `[n, 1]` index tensor, for `gather`.
    pub fn label_indices<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2, Int> {
        let data = TensorData::new(self.labels.clone(), [self.len(), 1]);
        Tensor::from_data(data, device)
    }
}

/// Fails unless every value lies in `[0, 1]`.
fn check_pixels<B: Backend>(images: &Tensor<B, 4>) -> Result<()> {
    let min = scalar(images.clone().min());
    let max = scalar(images.clone().max());
    if (0.0..=1.0).contains(&min) && (0.0..=1.0).contains(&max) {
        Ok(())
    } else {
        Err(RobustnessError::PixelRange { min, max })
    }
}

/// The single value of a one-element tensor (NaN if there is none).
fn scalar<B: Backend>(tensor: Tensor<B, 1>) -> f32 {
    tensor.into_data().iter::<f32>().next().unwrap_or(f32::NAN)
}

/// The model's logits for `images`, checked against the batch: `[n, classes]` with at least
/// two classes and every label below `classes`.
pub(crate) fn logits<B: AutodiffBackend>(
    model: &dyn Classifier<B>,
    images: Tensor<B, 4>,
    labels: &[i64],
) -> Result<Tensor<B, 2>> {
    let images_len = images.dims()[0];
    let logits = model.logits(images);
    let dims = logits.dims();
    if dims[0] != images_len || dims[1] < 2 {
        return Err(RobustnessError::LogitsShape {
            images: images_len,
            logits: dims,
        });
    }
    let classes = dims[1];
    if let Some(&label) = labels.iter().find(|&&l| l as u64 >= classes as u64) {
        return Err(RobustnessError::LabelOutOfRange { label, classes });
    }
    Ok(logits)
}

/// The values of a tensor in row-major order, as `f32`.
pub(crate) fn host<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor.into_data().iter::<f32>().collect()
}

/// A tensor of the given values and shape.
pub(crate) fn device_tensor<B: Backend, const D: usize>(
    values: Vec<f32>,
    dims: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// Per row of `[n, classes]` logits: the index of the largest (the first among equals).
pub(crate) fn argmax_rows(logits: &[f32], classes: usize) -> Vec<usize> {
    logits
        .chunks(classes)
        .map(|row| {
            let mut best = 0;
            for (k, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = k;
                }
            }
            best
        })
        .collect()
}

/// Per row: the true class's logit minus the largest other logit. Positive means correctly
/// classified with that much room; zero or below means fooled.
pub(crate) fn margins(logits: &[f32], classes: usize, labels: &[i64]) -> Vec<f32> {
    logits
        .chunks(classes)
        .zip(labels)
        .map(|(row, &label)| {
            let label = label as usize;
            let other = row
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != label)
                .map(|(_, &v)| v)
                .fold(f32::NEG_INFINITY, f32::max);
            row[label] - other
        })
        .collect()
}

/// Forward pass only: the logits of images held on the host, as row-major host values, and
/// the number of classes. `labels` (one per image) are checked against the classes.
pub(crate) fn query<B: AutodiffBackend>(
    model: &dyn Classifier<B>,
    values: Vec<f32>,
    dims: [usize; 4],
    labels: &[i64],
    device: &B::Device,
) -> Result<(Vec<f32>, usize)> {
    let images = device_tensor::<B, 4>(values, dims, device);
    let logits = logits(model, images, labels)?;
    let classes = logits.dims()[1];
    Ok((host(logits), classes))
}
