//! Counting trained parameters apart from stored feedback tensors.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

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
    /// [`Feedback`](crate::Feedback) apart.
    pub fn of<B: Backend, M: Module<B>>(module: &M) -> Self {
        let mut visitor = CountVisitor { counts: Self::default(), feedback_depth: 0 };
        module.visit(&mut visitor);
        visitor.counts
    }
}

struct CountVisitor {
    counts: ParamCounts,
    feedback_depth: usize,
}

const FEEDBACK_CONTAINER: &str = "Struct:Feedback";

impl<B: Backend> ModuleVisitor<B> for CountVisitor {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        if container_type == FEEDBACK_CONTAINER {
            self.feedback_depth += 1;
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if container_type == FEEDBACK_CONTAINER {
            self.feedback_depth = self.feedback_depth.saturating_sub(1);
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let n = param.shape().num_elements();
        if self.feedback_depth > 0 {
            self.counts.feedback += n;
        } else {
            self.counts.trained += n;
        }
    }
}
