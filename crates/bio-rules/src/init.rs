//! Fans and initialisation bounds, counted as PyTorch counts them.

use serde::{Deserialize, Serialize};

/// The fan-in and fan-out of a weight tensor.
///
/// For a linear weight `fan_in = d_input`, `fan_out = d_output`. For a convolution weight of
/// shape `[out, in / groups, kh, kw]`: `fan_in = in / groups · kh · kw` and
/// `fan_out = out · kh · kw` (so a depthwise `[C, 1, k, k]` kernel has `fan_in = k²` and
/// `fan_out = C · k²`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fans {
    /// Inputs that feed one output unit.
    pub fan_in: usize,
    /// Outputs that one input unit feeds, times the receptive field.
    pub fan_out: usize,
}

impl Fans {
    /// Fans of a linear weight.
    pub fn linear(d_input: usize, d_output: usize) -> Self {
        Self {
            fan_in: d_input,
            fan_out: d_output,
        }
    }

    /// Fans of a convolution weight of shape `[out, in / groups, kh, kw]`.
    pub fn conv(shape: [usize; 4]) -> Self {
        let [out, in_per_group, kh, kw] = shape;
        let receptive = kh * kw;
        Self {
            fan_in: in_per_group * receptive,
            fan_out: out * receptive,
        }
    }

    /// Xavier-uniform bound `a = sqrt(6 / (fan_in + fan_out))`: weights are drawn from
    /// `U(-a, a)`.
    pub fn xavier_bound(self) -> f64 {
        (6.0 / (self.fan_in + self.fan_out) as f64).sqrt()
    }

    /// Kaiming-uniform bound for a ReLU network, `a = sqrt(6 / fan_in)`.
    pub fn kaiming_bound(self) -> f64 {
        (6.0 / self.fan_in as f64).sqrt()
    }

    /// PyTorch's default bound for convolution and linear weights, `a = 1 / sqrt(fan_in)`.
    pub fn torch_default_bound(self) -> f64 {
        1.0 / (self.fan_in as f64).sqrt()
    }

    /// The uniform sign-symmetry scale under Xavier initialisation,
    /// `s = sqrt(2 / (fan_in + fan_out))`. Layers take the scale of their feedback
    /// initialisation, [`Init::usf_scale`].
    pub fn usf_scale(self) -> f64 {
        (2.0 / (self.fan_in + self.fan_out) as f64).sqrt()
    }
}

/// How a weight (or a feedback tensor) is drawn. All draws are uniform `U(-a, a)` from the
/// backend's generator, which [`burn::tensor::backend::Backend::seed`] makes repeatable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// `a = sqrt(6 / (fan_in + fan_out))` (the default, as in biotorch).
    #[default]
    XavierUniform,
    /// `a = sqrt(6 / fan_in)` (He initialisation for ReLU networks).
    KaimingUniform,
    /// `a = 1 / sqrt(fan_in)`, PyTorch's default for `nn.Conv2d` and `nn.Linear`
    /// (`kaiming_uniform_` with `a = sqrt(5)`); this is what biotorch's `"kaiming"` option
    /// draws.
    TorchDefault,
}

impl Init {
    /// The uSF scale for the given fans: the standard deviation `a / sqrt(3)` of the
    /// initial distribution, as biotorch takes it (Xavier: `sqrt(2 / (fan_in + fan_out))`;
    /// biotorch's "kaiming", which is [`Init::TorchDefault`]: `1 / sqrt(3 · fan_in)`).
    pub fn usf_scale(self, fans: Fans) -> f64 {
        self.bound(fans) / 3f64.sqrt()
    }

    /// The bound `a` for the given fans.
    pub fn bound(self, fans: Fans) -> f64 {
        match self {
            Self::XavierUniform => fans.xavier_bound(),
            Self::KaimingUniform => fans.kaiming_bound(),
            Self::TorchDefault => fans.torch_default_bound(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depthwise_fans_follow_pytorch() {
        // A depthwise 3x3 kernel over 16 channels: [16, 1, 3, 3].
        let fans = Fans::conv([16, 1, 3, 3]);
        assert_eq!(
            fans,
            Fans {
                fan_in: 9,
                fan_out: 144
            }
        );
        // Xavier bound sqrt(6 / 153).
        assert!((fans.xavier_bound() - (6.0f64 / 153.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn usf_scale_of_a_two_by_two_linear() {
        // s = sqrt(2 / (2 + 2)) = 0.70710678.
        assert!((Fans::linear(2, 2).usf_scale() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
    }
}
