//! Bio-inspired learning rules for Burn.
//!
//! Back-propagation (BP) sends the error to the layer below through the transpose of the
//! forward weight `W` ("weight transport"). The rules here keep the forward pass of BP and
//! change the backward pass: the error a layer sends down (its input gradient) and, for
//! the Hebbian rule, what its weight learns from.
//!
//! # The math
//!
//! For a linear layer `y = x·W` (Burn stores `W` as `[d_input, d_output]`) with upstream
//! gradient `δ = ∂L/∂y` and the network's output error `e = ∂L/∂logits`:
//!
//! | rule | weight gradient | input gradient sent down |
//! |---|---|---|
//! | BP | `xᵀ·δ` | `δ·Wᵀ` |
//! | FA, uSF, brSF, frSF | `xᵀ·δ` | `δ·Bᵀ` |
//! | DFA | `xᵀ·δ` | `e·P`, `P: [classes, d_input]` fixed |
//! | Hebbian | `-ΔW`, Oja's rule ([`hebbian`]) | `0` |
//!
//! For a convolution `y = W ⋆ x` (stride, padding, dilation, groups), the weight gradient
//! is BP's correlation of `x` with `δ`, and the input gradient is the transposed
//! convolution of `δ` with `B` under the same stride, padding, dilation and groups (DFA:
//! of `e` broadcast over the output pixels with `P: [classes, c_in, kh, kw]`, one group).
//!
//! With `fan_in`, `fan_out` counted as PyTorch does ([`Fans`]), and feedback drawn from
//! `U(-a, a)` with the layer's [`Init`] (Xavier-uniform by default,
//! `a = sqrt(6 / (fan_in + fan_out))`):
//!
//! | rule | feedback | changes |
//! |---|---|---|
//! | BP | `W` | always equal to `W` |
//! | FA | `B0 ~ U(-a, a)` | never; saved with the model |
//! | uSF | `s · sign(W)`, `s = a / √3` (Xavier: `sqrt(2 / (fan_in + fan_out))`) | every forward |
//! | brSF | `|M| ∘ sign(W)`, `M ~ U(-a, a)` | redrawn every forward (each batch) |
//! | frSF | `|B0| ∘ sign(W)`, `B0 ~ U(-a, a)` drawn once | signs follow `W` |
//! | DFA | `P ~ U(-a, a)` (fans of `P`'s shape) | never; saved with the model |
//!
//! `sign(0) = 0`. Stored feedback tensors are parameters that never require a gradient, so
//! they are recorded with the model and no optimiser changes them.
//!
//! Per-layer options, off by default as in biotorch: `constrain_weights` rescales `W` to
//! its initial norm before each forward pass (the gradient passes straight through the
//! rescaling), and `clamp_input_grad` clamps the input gradient to `[-1, 1]`.
//!
//! DFA needs the output error, a network-level quantity: a [`RuleHub`] links the layers of
//! a network, and the network passes its logits through [`RuleHub::tap`]. The same hub
//! runs the [`alignment`] diagnostics: the angle between each layer's input gradient and
//! true back-propagation's on the same batch, the angle between `W` and `B`, and
//! `‖B‖ / ‖W‖`.
//!
//! # How it is built
//!
//! [`RuleBackend`] extends Burn's `Backend` with a convolution, a matrix product and an
//! error tap whose backward pass follows a [`RuleGrad`]. On a backend without autodiff
//! they are the plain forward operations; on [`burn::backend::Autodiff`] over any backend
//! they register a custom backward step, so the rules cost no extra forward work.
//! [`reference`](mod@reference) holds the feedback operations written in plain tensor
//! operations, which the tests compare against.
//!
//! ```
//! use bio_rules::{Fans, Init, LearningRule};
//! assert_eq!("frsf".parse::<LearningRule>().ok(), Some(LearningRule::Frsf));
//! assert_eq!("dfa".parse::<LearningRule>().ok(), Some(LearningRule::Dfa));
//! // A depthwise 3x3 kernel over 8 channels: fan_in = 9, fan_out = 72.
//! let fans = Fans::conv([8, 1, 3, 3]);
//! assert!((Init::XavierUniform.usf_scale(fans) - (2.0f64 / 81.0).sqrt()).abs() < 1e-12);
//! ```

pub mod alignment;
mod backend;
mod conv;
mod count;
mod direct;
mod feedback;
pub mod hebbian;
mod hub;
mod init;
mod linear;
pub mod reference;
mod rule;

pub use alignment::{AlignmentProbe, BufferSnapshot, LayerAlignment, PassRecord};
pub use backend::{InputGrad, Probe, RuleBackend, RuleGrad, WeightGrad};
pub use conv::{RuleConv2d, RuleConv2dConfig};
pub use count::ParamCounts;
pub use feedback::Feedback;
pub use hub::RuleHub;
pub use init::{Fans, Init};
pub use linear::{RuleLinear, RuleLinearConfig};
pub use rule::{LearningRule, RuleError};
