//! The model interface the attacks see.

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

/// A classifier of pixel-space images (values in `[0, 1]`); normalisation happens inside.
///
/// The input gradient must flow: white-box attacks differentiate the logits with respect to
/// the images. The model is evaluated in inference mode (running batch-norm statistics, no
/// dropout); that is the implementor's job. A model whose backward pass is a bio-inspired
/// rule's pseudo-gradient hands that pseudo-gradient to the attacker.
///
/// Closures `Fn(Tensor<B, 4>) -> Tensor<B, 2>` are classifiers.
pub trait Classifier<B: AutodiffBackend> {
    /// Class logits of a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[n, channels, height, width]`, values in `[0, 1]`
    /// - output: `[n, classes]`
    fn logits(&self, images: Tensor<B, 4>) -> Tensor<B, 2>;
}

impl<B, F> Classifier<B> for F
where
    B: AutodiffBackend,
    F: Fn(Tensor<B, 4>) -> Tensor<B, 2>,
{
    fn logits(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self(images)
    }
}
