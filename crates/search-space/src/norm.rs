//! Batch normalisation with optional affine parameters and PyTorch's running statistics.

use burn::config::Config;
use burn::module::{Module, Param, RunningState};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Configuration of a [`BatchNorm2d`].
#[derive(Config, Debug)]
pub struct BatchNorm2dConfig {
    /// Number of channels.
    pub channels: usize,
    /// Whether the layer has learnable scale `γ` and shift `β` (default true). The search
    /// supernet uses none, as DARTS does.
    #[config(default = true)]
    pub affine: bool,
    /// Added to the variance for stability (default 1e-5).
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Weight of the newest batch in the running statistics (default 0.1).
    #[config(default = 0.1)]
    pub momentum: f64,
}

/// Which statistics a batch norm uses in one forward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NormMode {
    /// Batch statistics when the backend tracks gradients, running statistics otherwise.
    #[default]
    Auto,
    /// Batch statistics, updating the running ones (training).
    Batch,
    /// Running statistics, left unchanged, with the input gradient still flowing
    /// (evaluation and attacks on an autodiff model).
    Running,
}

/// Batch normalisation over `[batch, channels, height, width]`.
///
/// `y = γ · (x - μ) / sqrt(σ² + ε) + β`. In training (a backend with autodiff) `μ` and
/// `σ²` are the batch mean and biased variance, and the running statistics move towards
/// the batch mean and the *unbiased* variance, as in PyTorch:
/// `running ← (1 - momentum) · running + momentum · batch`. Without autodiff (evaluation
/// through `valid()`), the running statistics are used and left alone.
#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    /// Scale `γ`, `[channels]`, when affine.
    pub gamma: Option<Param<Tensor<B, 1>>>,
    /// Shift `β`, `[channels]`, when affine.
    pub beta: Option<Param<Tensor<B, 1>>>,
    /// Running mean, `[channels]`.
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// Running (unbiased) variance, `[channels]`.
    pub running_var: RunningState<Tensor<B, 1>>,
    /// Momentum of the running statistics.
    pub momentum: f64,
    /// Epsilon added to the variance.
    pub epsilon: f64,
}

impl BatchNorm2dConfig {
    /// Creates the layer with `γ = 1`, `β = 0`, running mean 0 and running variance 1.
    pub fn init<B: Backend>(&self, device: &B::Device) -> BatchNorm2d<B> {
        let c = self.channels;
        let affine = |value: f32| {
            self.affine
                .then(|| Param::from_tensor(Tensor::full([c], value, device)))
        };
        BatchNorm2d {
            gamma: affine(1.0),
            beta: affine(0.0),
            running_mean: RunningState::new(Tensor::zeros([c], device)),
            running_var: RunningState::new(Tensor::ones([c], device)),
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }
}

impl<B: Backend> BatchNorm2d<B> {
    /// Normalises `x`: batch statistics when the backend tracks gradients, running
    /// statistics otherwise.
    ///
    /// # Shapes
    /// - input and output: `[batch, channels, height, width]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_mode(x, NormMode::Auto)
    }

    /// Normalises `x` with the statistics `mode` names.
    ///
    /// # Shapes
    /// - input and output: `[batch, channels, height, width]`
    pub fn forward_mode(&self, x: Tensor<B, 4>, mode: NormMode) -> Tensor<B, 4> {
        let batch = match mode {
            NormMode::Auto => B::ad_enabled(&x.device()),
            NormMode::Batch => true,
            NormMode::Running => false,
        };
        if batch {
            self.forward_train(x)
        } else {
            self.forward_eval(x)
        }
    }

    /// Normalises with the running statistics, whatever the backend; the input gradient
    /// still flows.
    pub fn forward_eval(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        let device = x.device();
        let mean = self
            .running_mean
            .value_sync()
            .to_device(&device)
            .reshape([1, c, 1]);
        let var = self
            .running_var
            .value_sync()
            .to_device(&device)
            .reshape([1, c, 1]);
        let inv_std = (var + self.epsilon).sqrt().recip();
        let x = x.reshape([n, c, h * w]);
        let y = (x - per_sample(mean, n)) * per_sample(inv_std, n);
        self.affine(y).reshape([n, c, h, w])
    }

    /// Normalises with the batch statistics and updates the running ones.
    pub fn forward_train(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        // Work on [batch, channels, pixels]: reductions run along contiguous rows, and the
        // per-channel statistics, repeated per sample, broadcast along rows only.
        let x = x.reshape([n, c, h * w]);
        let mean = x.clone().mean_dim(2).mean_dim(0); // [1, channels, 1]
        let centred = x - per_sample(mean.clone(), n);
        let var = centred.clone().square().mean_dim(2).mean_dim(0); // biased, [1, channels, 1]
        self.update_running(mean, var.clone(), n * h * w, c);
        let inv_std = (var + self.epsilon).sqrt().recip();
        let y = centred * per_sample(inv_std, n);
        self.affine(y).reshape([n, c, h, w])
    }

    fn update_running(&self, mean: Tensor<B, 3>, var: Tensor<B, 3>, count: usize, c: usize) {
        let device = mean.device();
        let unbiased = count as f64 / (count.max(2) - 1) as f64;
        let m = self.momentum;
        let mean = mean.detach().reshape([c]);
        let var = var.detach().reshape([c]) * unbiased;
        let old_mean = self.running_mean.value_sync().to_device(&device);
        let old_var = self.running_var.value_sync().to_device(&device);
        self.running_mean.update(old_mean * (1.0 - m) + mean * m);
        self.running_var.update(old_var * (1.0 - m) + var * m);
    }

    /// `γ · y + β` on `[batch, channels, pixels]`.
    fn affine(&self, y: Tensor<B, 3>) -> Tensor<B, 3> {
        match (&self.gamma, &self.beta) {
            (Some(gamma), Some(beta)) => {
                let [n, c, _] = y.dims();
                let gamma = per_sample(gamma.val().reshape([1, c, 1]), n);
                let beta = per_sample(beta.val().reshape([1, c, 1]), n);
                y * gamma + beta
            }
            _ => y,
        }
    }
}

/// Repeats per-channel values `[1, channels, 1]` for every sample, `[batch, channels, 1]`,
/// so broadcasting against `[batch, channels, pixels]` only spans the pixel axis (the
/// fast path of CPU backends).
fn per_sample<B: Backend>(values: Tensor<B, 3>, batch: usize) -> Tensor<B, 3> {
    values.repeat_dim(0, batch)
}
