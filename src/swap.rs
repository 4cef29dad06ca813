//! Running the same model on two backends: copying its weights across and comparing what
//! each computes.

use std::collections::BTreeMap;

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder, RecorderError};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

/// Copies the parameters, buffers and stored feedback of `from` (on backend `A`) into
/// `to`, a module of the same structure on backend `B` (for example one built from the
/// same configuration), through Burn's full-precision record. Parameter ids are kept, so
/// gradients of the two modules can be matched by id.
pub fn copy_module<A, B, MA, MB>(from: MA, to: MB, device: &B::Device) -> Result<MB, RecorderError>
where
    A: Backend,
    B: Backend,
    MA: Module<A>,
    MB: Module<B>,
{
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let bytes = Recorder::<A>::record(&recorder, from.into_record(), ())?;
    let record = Recorder::<B>::load(&recorder, bytes, device)?;
    Ok(to.load_record(record))
}

/// The gradient of every parameter of `model` that has one in `grads`, by parameter id,
/// as `f32` values in row-major order.
pub fn gradient_values<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
) -> BTreeMap<ParamId, Vec<f32>> {
    let mut visitor = GradientVisitor {
        grads,
        values: BTreeMap::new(),
    };
    model.visit(&mut visitor);
    visitor.values
}

struct GradientVisitor<'a> {
    grads: &'a GradientsParams,
    values: BTreeMap<ParamId, Vec<f32>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradientVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.values.insert(param.id, values(grad));
        }
    }
}

/// The values of a tensor as `f32`, in row-major order (empty if they cannot be read).
pub fn values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap_or_default()
}

/// The largest absolute difference between two equally long slices (infinite when their
/// lengths differ or a value is not finite).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter().zip(b).fold(0.0, |worst, (x, y)| {
        let d = (x - y).abs();
        if d.is_nan() {
            f32::INFINITY
        } else {
            worst.max(d)
        }
    })
}

/// The largest difference between two sets of gradients matched by parameter id,
/// relative to the largest magnitude of the gradient it belongs to (`(difference, id)`);
/// a parameter with a gradient on one side only counts as infinitely different.
pub fn max_gradient_diff(
    a: &BTreeMap<ParamId, Vec<f32>>,
    b: &BTreeMap<ParamId, Vec<f32>>,
) -> Option<(f32, ParamId)> {
    let ids = a.keys().chain(b.keys());
    ids.map(|id| {
        let diff = match (a.get(id), b.get(id)) {
            (Some(x), Some(y)) => {
                let scale = x.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                max_abs_diff(x, y) / scale
            }
            _ => f32::INFINITY,
        };
        (diff, *id)
    })
    .max_by(|p, q| p.0.total_cmp(&q.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences() {
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.5, 1.0]), 1.0);
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), f32::INFINITY);
        assert_eq!(max_abs_diff(&[f32::NAN], &[1.0]), f32::INFINITY);
        let id = ParamId::new();
        let a = BTreeMap::from([(id, vec![2.0, -4.0])]);
        let b = BTreeMap::from([(id, vec![2.0, -3.0])]);
        assert_eq!(max_gradient_diff(&a, &b), Some((0.25, id)));
        assert_eq!(
            max_gradient_diff(&a, &BTreeMap::new()).map(|d| d.0),
            Some(f32::INFINITY)
        );
    }
}
