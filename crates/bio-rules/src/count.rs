//! Counting trained parameters apart from stored feedback tensors.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Numbers of values in a module: trained parameters and stored feedback tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamCounts {
    /// Values an optimiser trains (weights, biases, affine batch-norm parameters, ...).
    pub trained: usize,
    /// Values of fixed feedback tensors (FA's `B0`, frSF's `|B0|`), never trained.
    pub feedback: usize,
}

impl ParamCounts {
    /// Counts the float parameters of `module`, putting those inside a
    /// [`Feedback`](crate::Feedback) apart. Running statistics (fields named `running_*`,
    /// such as a batch norm's) and a constrained layer's `initial_norm` are buffers, not
    /// parameters, and are not counted, as in PyTorch.
    pub fn of<B: Backend, M: Module<B>>(module: &M) -> Self {
        let mut visitor = CountVisitor {
            counts: Self::default(),
            feedback_depth: 0,
            buffer_depth: 0,
        };
        module.visit(&mut visitor);
        visitor.counts
    }
}

struct CountVisitor {
    counts: ParamCounts,
    feedback_depth: usize,
    buffer_depth: usize,
}

const BUFFER_PREFIX: &str = "running_";

/// A constrained layer's initial weight norm: a fixed value, not a parameter.
const INITIAL_NORM: &str = "initial_norm";

fn is_buffer(name: &str) -> bool {
    name.starts_with(BUFFER_PREFIX) || name == INITIAL_NORM
}

const FEEDBACK_CONTAINER: &str = "Struct:Feedback";

impl<B: Backend> ModuleVisitor<B> for CountVisitor {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if container_type == FEEDBACK_CONTAINER {
            self.feedback_depth += 1;
        }
        if is_buffer(name) {
            self.buffer_depth += 1;
        }
    }

    fn exit_module(&mut self, name: &str, container_type: &str) {
        if container_type == FEEDBACK_CONTAINER {
            self.feedback_depth = self.feedback_depth.saturating_sub(1);
        }
        if is_buffer(name) {
            self.buffer_depth = self.buffer_depth.saturating_sub(1);
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let n = param.shape().num_elements();
        if self.buffer_depth > 0 {
            return;
        }
        if self.feedback_depth > 0 {
            self.counts.feedback += n;
        } else {
            self.counts.trained += n;
        }
    }
}
