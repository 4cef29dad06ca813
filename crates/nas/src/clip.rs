//! Clipping the global gradient norm, as PyTorch's `clip_grad_norm_` does.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

/// Scales every gradient of `module` found in `grads` by `max_norm / total_norm` when the
/// total L2 norm over all of them exceeds `max_norm`. Returns the norm before clipping.
pub fn clip_global_norm<B, M>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let norm = global_norm(module, grads);
    // PyTorch adds 1e-6 to the norm in the ratio.
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        module.visit(&mut Scale { grads, scale });
    }
    norm
}

/// The L2 norm over every gradient of `module` found in `grads`.
pub fn global_norm<B, M>(module: &M, grads: &GradientsParams) -> f64
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut sum = SquaredNorm { grads, total: 0.0 };
    module.visit(&mut sum);
    sum.total.sqrt()
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let squared = grad.square().sum().into_scalar().elem::<f64>();
            self.total += squared;
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    scale: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register(param.id, grad * self.scale);
        }
    }
}
