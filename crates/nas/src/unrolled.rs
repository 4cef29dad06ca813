//! Second-order DARTS: the architecture gradient through one virtual weight step.
//!
//! DARTS approximates the best response `w*(α)` of the weights by one step of their
//! optimiser, `w' = w − ξ·Δ(w, α)`, and differentiates the validation loss through it:
//!
//! ```text
//! ∇α L_val(w', α) − ξ · ∇²_{α,w} L_train(w, α) · v,      v = ∇w' L_val(w', α)
//! ```
//!
//! The Hessian-vector product is a central finite difference around the *original*
//! weights, `w± = w ± r·v` with `r = 0.01 / ‖v‖`:
//!
//! ```text
//! ∇²_{α,w} L_train · v ≈ (∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)) / (2r)
//! ```
//!
//! On DARTS' one-weight toy (`L_train = ½·a·w²`, `L_val = ½·(w − 1)²`, `w = 2`, `a = 1`,
//! `ξ = 0.1`) this gives the exact hypergradient −0.16 (a test).

use burn::module::{AutodiffModule, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::Result;
use crate::clip::global_norm;

/// The losses a second-order step evaluates; each returns a scalar loss of the model.
pub(crate) trait Losses<B: AutodiffBackend, M> {
    /// The training loss (the weights' objective) of `model`.
    fn train(&mut self, model: &M) -> Result<Tensor<B, 1>>;
    /// The validation loss (the architecture's objective) of `model`.
    fn valid(&mut self, model: &M) -> Result<Tensor<B, 1>>;
}

/// The unrolled architecture gradient of `model` (one gradient per id of `alphas`), and
/// the validation loss at the virtual weights. `virtual_step` applies the weight
/// optimiser's update to a copy of the model, given the weights' gradients; `xi` is its
/// learning rate.
pub(crate) fn unrolled_gradient<B, M>(
    model: &M,
    alphas: &[ParamId],
    xi: f64,
    virtual_step: impl FnOnce(M, GradientsParams) -> M,
    losses: &mut dyn Losses<B, M>,
) -> Result<(GradientsParams, f32)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let train = losses.train(model)?;
    let mut grads = GradientsParams::from_grads(train.backward(), model);
    remove_alphas::<B>(&mut grads, alphas);
    let unrolled = virtual_step(model.clone(), grads);

    let valid = losses.valid(&unrolled)?;
    let value = valid.clone().into_scalar();
    let mut valid_grads = GradientsParams::from_grads(valid.backward(), &unrolled);
    let direct = take_alphas::<B>(&mut valid_grads, alphas);
    let norm = global_norm(&unrolled, &valid_grads);
    if norm == 0.0 || !norm.is_finite() {
        return Ok((to_params::<B>(alphas, direct), to_f32::<B>(value)));
    }
    let r = 0.01 / norm;
    let mut side = |sign: f64| -> Result<Vec<Option<Tensor<B::InnerBackend, 2>>>> {
        let shifted = model.clone().map(&mut Shift {
            grads: &valid_grads,
            scale: sign * r,
            skip: alphas,
        });
        let loss = losses.train(&shifted)?;
        let mut g = GradientsParams::from_grads(loss.backward(), &shifted);
        Ok(take_alphas::<B>(&mut g, alphas))
    };
    let plus = side(1.0)?;
    let minus = side(-1.0)?;
    let scale = xi / (2.0 * r);
    let combined = direct
        .into_iter()
        .zip(plus.into_iter().zip(minus))
        .map(|(d, (p, m))| {
            let product = match (p, m) {
                (Some(p), Some(m)) => Some((p - m) * scale),
                (Some(p), None) => Some(p * scale),
                (None, Some(m)) => Some(m * -scale),
                (None, None) => None,
            };
            match (d, product) {
                (Some(d), Some(h)) => Some(d - h),
                (d, None) => d,
                (None, Some(h)) => Some(-h),
            }
        })
        .collect();
    Ok((to_params::<B>(alphas, combined), to_f32::<B>(value)))
}

fn to_f32<B: AutodiffBackend>(value: B::FloatElem) -> f32 {
    use burn::tensor::ElementConversion;
    value.elem::<f32>()
}

fn remove_alphas<B: AutodiffBackend>(grads: &mut GradientsParams, alphas: &[ParamId]) {
    for &id in alphas {
        grads.remove::<B::InnerBackend, 2>(id);
    }
}

/// The gradients of `alphas`, `None` for one the loss does not depend on.
fn take_alphas<B: AutodiffBackend>(
    grads: &mut GradientsParams,
    alphas: &[ParamId],
) -> Vec<Option<Tensor<B::InnerBackend, 2>>> {
    alphas
        .iter()
        .map(|&id| grads.remove::<B::InnerBackend, 2>(id))
        .collect()
}

fn to_params<B: AutodiffBackend>(
    alphas: &[ParamId],
    values: Vec<Option<Tensor<B::InnerBackend, 2>>>,
) -> GradientsParams {
    let mut grads = GradientsParams::new();
    for (&id, value) in alphas.iter().zip(values) {
        if let Some(value) = value {
            grads.register::<B::InnerBackend, 2>(id, value);
        }
    }
    grads
}

/// Adds `scale · grads[id]` to every parameter but `skip`.
struct Shift<'a> {
    grads: &'a GradientsParams,
    scale: f64,
    skip: &'a [ParamId],
}

impl<B: AutodiffBackend> ModuleMapper<B> for Shift<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let grad = if self.skip.contains(&id) {
            None
        } else {
            self.grads.get::<B::InnerBackend, D>(id)
        };
        let value = match grad {
            Some(g) => {
                let tracked = tensor.is_require_grad();
                Tensor::from_inner(tensor.inner() + g * self.scale).set_require_grad(tracked)
            }
            None => tensor,
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::tensor::TensorData;

    type Ad = burn::backend::Autodiff<burn::backend::Flex>;

    /// One weight `w` and one architecture parameter `a`.
    #[derive(Module, Debug)]
    struct Toy<B: burn::tensor::backend::Backend> {
        w: Param<Tensor<B, 2>>,
        a: Param<Tensor<B, 2>>,
    }

    struct ToyLosses;

    impl Losses<Ad, Toy<Ad>> for ToyLosses {
        fn train(&mut self, m: &Toy<Ad>) -> Result<Tensor<Ad, 1>> {
            // ½·a·w²
            Ok((m.a.val() * m.w.val().powi_scalar(2) * 0.5).sum())
        }
        fn valid(&mut self, m: &Toy<Ad>) -> Result<Tensor<Ad, 1>> {
            // ½·(w − 1)²
            Ok(((m.w.val() - 1.0).powi_scalar(2) * 0.5).sum())
        }
    }

    fn scalar(value: f32) -> Param<Tensor<Ad, 2>> {
        let data = TensorData::new(vec![value], [1, 1]);
        Param::from_tensor(Tensor::from_data(data, &Default::default()))
    }

    #[test]
    fn the_toy_hypergradient_is_exact() {
        let toy = Toy {
            w: scalar(2.0),
            a: scalar(1.0),
        };
        let xi = 0.1;
        let ids = [toy.a.id];
        let (grads, valid) = unrolled_gradient(
            &toy,
            &ids,
            xi,
            |model: Toy<Ad>, grads| {
                // Plain SGD, no momentum or decay: w' = w − ξ·∇w.
                model.map(&mut Shift {
                    grads: &grads,
                    scale: -xi,
                    skip: &ids,
                })
            },
            &mut ToyLosses,
        )
        .expect("finite");
        // w' = 1.8, L_val(w') = 0.32.
        assert!((valid - 0.32).abs() < 1e-6, "valid loss {valid}");
        let g = grads
            .get::<burn::backend::Flex, 2>(toy.a.id)
            .expect("α gradient")
            .into_scalar();
        // −0.144 would mean w± centred on w'; about −2.5e-5 a divisor without brackets.
        assert!((g - (-0.16)).abs() < 1e-4, "α gradient {g}");
    }
}
