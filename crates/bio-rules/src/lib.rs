//! Bio-inspired learning rules for Burn.
//!
//! Back-propagation (BP) sends the error to the layer below through the transpose of the
//! forward weight `W` ("weight transport"). The rules here keep the forward pass and the
//! weight gradient of BP, and replace `W` in the backward pass by a feedback tensor `B` of
//! the same shape.
//!
//! # The math
//!
//! For a linear layer `y = x·W` (Burn stores `W` as `[d_input, d_output]`) with upstream
//! gradient `δ = ∂L/∂y`:
//!
//! - weight gradient (every rule): `∂L/∂W = xᵀ·δ`
//! - input gradient passed down: `δx = δ·Bᵀ` (BP: `B = W`)
//!
//! For a convolution `y = W ⋆ x` (stride, padding, dilation, groups), the weight gradient is
//! BP's correlation of `x` with `δ`, and the input gradient is the transposed convolution of
//! `δ` with `B` under the same stride, padding, dilation and groups.
//!
//! With `fan_in`, `fan_out` counted as PyTorch does ([`Fans`]) and
//! `a = sqrt(6 / (fan_in + fan_out))` (Xavier-uniform):
//!
//! | rule | `B` | changes |
//! |---|---|---|
//! | BP | `W` | always equal to `W` |
//! | FA | `B0 ~ U(-a, a)` | never; saved with the model |
//! | uSF | `s · sign(W)`, `s = sqrt(2 / (fan_in + fan_out))` | every forward |
//! | brSF | `|M| ∘ sign(W)`, `M ~ U(-a, a)` | redrawn every forward (each batch) |
//! | frSF | `|B0| ∘ sign(W)`, `B0 ~ U(-a, a)` drawn once | signs follow `W` |
//!
//! `sign(0) = 0`. Stored feedback tensors are parameters that never require a gradient, so
//! they are recorded with the model and no optimiser changes them.
//!
//! # How it is built
//!
//! [`RuleBackend`] extends Burn's `Backend` with a convolution and a matrix product that take
//! a feedback tensor. On a backend without autodiff they are the plain forward operations;
//! on [`burn::backend::Autodiff`] over any backend they register a custom backward step,
//! so the rules cost no extra forward work. [`reference`](mod@reference) holds the same
//! operations written in plain tensor operations, which the tests compare against.
//!
//! ```
//! use bio_rules::{LearningRule, Fans};
//! assert_eq!("frsf".parse::<LearningRule>().ok(), Some(LearningRule::Frsf));
//! // A depthwise 3x3 kernel over 8 channels: fan_in = 9, fan_out = 72.
//! let fans = Fans::conv([8, 1, 3, 3]);
//! assert!((fans.usf_scale() - (2.0f64 / 81.0).sqrt()).abs() < 1e-12);
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
pub use rule::{LearningRule, UnknownRule};
