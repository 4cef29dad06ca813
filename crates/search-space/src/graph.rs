//! A workaround for the cost of joining autodiff graphs.
//!
//! Burn's autodiff keeps one graph per tracked leaf until an operation joins them, and a
//! join copies the bookkeeping of every joined graph but one, chosen arbitrarily. A
//! network with thousands of weight tensors that meet a growing activation graph one at a
//! time may copy the large graph thousands of times. Joining all the parameters first, in a
//! single operation, makes every later join cheap: [`join_parameter_graphs`] does that.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Joins the autodiff graphs of all float parameters of `module` with one concatenation
/// whose result is dropped. Costs one copy of the parameters; changes no value or
/// gradient. Does nothing useful (nor harmful) on a backend without autodiff.
pub fn join_parameter_graphs<B: Backend, M: Module<B>>(module: &M) {
    if !B::ad_enabled(&Default::default()) {
        return;
    }
    let mut collect = Collect { flat: Vec::new() };
    module.visit(&mut collect);
    if collect.flat.len() > 1 {
        let _joined = Tensor::cat(collect.flat, 0);
    }
}

struct Collect<B: Backend> {
    flat: Vec<Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        if value.is_require_grad() {
            // One element suffices to join the graph.
            let flat = value.reshape([-1]).narrow(0, 0, 1);
            self.flat.push(flat);
        }
    }
}
