//! Alignment diagnostics: how closely each layer's rule follows back-propagation.
//!
//! For every rule layer linked to a [`RuleHub`], on one batch:
//!
//! - **gradient angle**: the angle between the input gradient the layer's rule sends down
//!   and the input gradient true back-propagation sends at the same place, for the same
//!   batch and weights. The back-propagation gradient comes from a second pass in which
//!   every layer of the hub sends `δ · Wᵀ` (its transposed convolution for a convolution),
//!   so errors above the layer are BP's too: the angle measures the whole chain of rules
//!   above and at the layer, not the layer alone. 0° is BP; 90° is an unrelated direction.
//! - **weight angle**: the angle between `W` and the feedback `B` the layer used, both
//!   flattened (biotorch's "layer alignment"); only for weight-shaped feedback.
//! - **norm ratio**: `‖B‖ / ‖W‖` (Frobenius norms); only for weight-shaped feedback.
//!
//! Angles are `acos(⟨a, b⟩ / (‖a‖ ‖b‖))` in degrees, `None` when either vector is zero
//! (a Hebbian layer sends no gradient, so it has no gradient angle).
//!
//! The probe costs one extra forward and backward pass, on demand: nothing is recorded and
//! nothing changes while no probe runs.

use std::any::Any;
use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{ElementConversion, Tensor, TensorPrimitive};
use serde::{Deserialize, Serialize};

use crate::LearningRule;
use crate::RuleHub;
use crate::feedback::angle_degrees;
use crate::hub::LayerRecord;

/// The alignment of one layer on one batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerAlignment {
    /// The layer's path in the model (for example `cells.0.edges.3.sep.op1.depthwise`).
    pub layer: String,
    /// The layer's rule.
    pub rule: LearningRule,
    /// Angle in degrees between the rule's input gradient and back-propagation's.
    pub gradient_angle: Option<f64>,
    /// Angle in degrees between `W` and `B`.
    pub weight_angle: Option<f64>,
    /// `‖B‖ / ‖W‖`.
    pub norm_ratio: Option<f64>,
}

/// What the layers of a hub recorded during one pass.
#[derive(Debug, Default)]
pub struct PassRecord {
    layers: HashMap<ParamId, LayerRecord>,
}

impl PassRecord {
    /// Number of layers that recorded something.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether no layer recorded anything.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

/// Measures the alignment of the rule layers linked to one hub.
///
/// ```no_run
/// # use bio_rules::{AlignmentProbe, RuleHub};
/// # fn demo<B: burn::tensor::backend::AutodiffBackend, M: burn::module::Module<B>>(
/// #     hub: RuleHub, model: &M, step: impl Fn()) {
/// let probe = AlignmentProbe::new(hub);
/// let ((), backprop) = probe.backprop_pass(|| step()); // forward, loss, backward
/// let ((), rules) = probe.rule_pass(backprop, || step());
/// for layer in AlignmentProbe::compare::<B, M>(model, &rules) {
///     println!("{} {:?}", layer.layer, layer.gradient_angle);
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AlignmentProbe {
    hub: RuleHub,
}

/// Puts the hub back in its normal state even if the pass panics.
struct PassGuard(RuleHub);

impl Drop for PassGuard {
    fn drop(&mut self) {
        self.0.set_backprop(false);
        let _ = self.0.take_recording();
    }
}

impl AlignmentProbe {
    /// A probe for the layers of `hub`.
    pub fn new(hub: RuleHub) -> Self {
        Self { hub }
    }

    /// Runs `pass` (a forward pass, a loss and its backward pass) with every layer of the
    /// hub sending back-propagation's input gradient, and records those gradients. Weight
    /// gradients of this pass are not the rules': discard them.
    pub fn backprop_pass<R>(&self, pass: impl FnOnce() -> R) -> (R, PassRecord) {
        self.hub.set_backprop(true);
        self.record(HashMap::new(), pass)
    }

    /// Runs `pass` with the layers' own rules, comparing each layer's input gradient with
    /// its gradient in `backprop` as it goes (only three numbers per layer are kept), and
    /// recording the angle between each weight and its feedback. The gradients of this
    /// pass are the ordinary training gradients, so `pass` can be a real training step.
    pub fn rule_pass<R>(&self, backprop: PassRecord, pass: impl FnOnce() -> R) -> (R, PassRecord) {
        self.hub.set_backprop(false);
        self.record(backprop.layers, pass)
    }

    fn record<R>(
        &self,
        reference: HashMap<ParamId, LayerRecord>,
        pass: impl FnOnce() -> R,
    ) -> (R, PassRecord) {
        let guard = PassGuard(self.hub);
        self.hub.start_recording(reference);
        let out = pass();
        let layers = self.hub.take_recording();
        drop(guard);
        (out, PassRecord { layers })
    }

    /// One probe in one call: runs `pass` (forward, loss, backward on one batch) in
    /// back-propagation mode, undoes the running-statistics updates of that pass, runs it
    /// again with the rules, and returns the second pass's result (the ordinary training
    /// gradients) with every layer's alignment.
    pub fn measure<B: AutodiffBackend, M: Module<B>, R>(
        &self,
        model: &M,
        mut pass: impl FnMut() -> R,
    ) -> (R, Vec<LayerAlignment>) {
        let snapshot = BufferSnapshot::of(model);
        let (_, backprop) = self.backprop_pass(&mut pass);
        let _ = snapshot.restore(model.clone());
        let (out, rules) = self.rule_pass(backprop, pass);
        (out, Self::compare::<B, M>(model, &rules))
    }

    /// The alignment of every layer that recorded in `rules` (a [`rule_pass`]), named by
    /// its path in `model`, in the model's order.
    ///
    /// [`rule_pass`]: Self::rule_pass
    pub fn compare<B: AutodiffBackend, M: Module<B>>(
        model: &M,
        rules: &PassRecord,
    ) -> Vec<LayerAlignment> {
        layer_paths::<B, M>(model)
            .into_iter()
            .filter_map(|(id, layer)| {
                let record = rules.layers.get(&id)?;
                Some(LayerAlignment {
                    layer,
                    rule: record.rule,
                    gradient_angle: gradient_angle::<B::InnerBackend>(&record.grad_stats),
                    weight_angle: record.weight_angle,
                    norm_ratio: record.norm_ratio,
                })
            })
            .collect()
    }
}

/// The angle from the `[⟨a, b⟩, ‖a‖², ‖b‖²]` a rule pass recorded.
fn gradient_angle<B: Backend>(stats: &Option<Box<dyn Any + Send>>) -> Option<f64> {
    let stats = stats.as_ref()?.downcast_ref::<[FloatTensor<B>; 3]>()?;
    let [dot, aa, bb] = stats
        .clone()
        .map(|t| Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(t)))
        .map(|t| t.into_scalar().elem::<f64>());
    angle_degrees(dot, aa.sqrt(), bb.sqrt())
}

/// The path of every weight in the model, in visiting order, without the final `.weight`.
fn layer_paths<B: Backend, M: Module<B>>(model: &M) -> Vec<(ParamId, String)> {
    let mut paths = Vec::new();
    visit_paths::<B, M>(model, |path, id, _| {
        if let Some((last, parents)) = path.split_last()
            && last == "weight"
        {
            paths.push((id, parents.join(".")));
        }
    });
    paths
}

/// Walks a module's float parameters with the names of the fields that lead to each.
struct PathVisitor<F> {
    stack: Vec<String>,
    on_float: F,
}

impl<B, F> ModuleVisitor<B> for PathVisitor<F>
where
    B: Backend,
    F: FnMut(&[String], ParamId, Box<dyn Any + Send>),
{
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value: Tensor<B, D> = param.val();
        (self.on_float)(&self.stack, param.id, Box::new(value));
    }
}

/// Visits `model` with `on_float(path, id, value)` for every float parameter (the value
/// is a `Tensor<B, D>`).
fn visit_paths<B: Backend, M: Module<B>>(
    model: &M,
    on_float: impl FnMut(&[String], ParamId, Box<dyn Any + Send>),
) {
    let mut visitor = PathVisitor {
        stack: Vec::new(),
        on_float,
    };
    model.visit(&mut visitor);
}

/// A copy of a model's running statistics (fields named `running_*`, such as a batch
/// norm's), to undo the updates an extra probe pass makes.
#[derive(Debug, Default)]
pub struct BufferSnapshot {
    values: HashMap<ParamId, Box<dyn Any + Send>>,
}

impl BufferSnapshot {
    /// Copies the running statistics of `model`.
    pub fn of<B: Backend, M: Module<B>>(model: &M) -> Self {
        sync_running_states::<B, M>(model);
        let mut snapshot = Self::default();
        visit_paths::<B, M>(model, |path, id, value| {
            if path.last().is_some_and(|n| n.starts_with("running_")) {
                snapshot.values.insert(id, value);
            }
        });
        snapshot
    }

    /// Puts the copied values back. Running statistics are shared between clones of a
    /// module, so this restores `model` and every clone of it.
    pub fn restore<B: Backend, M: Module<B>>(&self, model: M) -> M {
        // Fold pending updates in first, or they would land on top of the restored values.
        sync_running_states::<B, M>(&model);
        model.map(&mut RestoreMapper { snapshot: self })
    }

    /// Number of tensors copied.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the model had no running statistics.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Burn's running states keep the latest update of each thread aside until they are
/// synchronised; turning a clone into a record synchronises them (the clone shares them).
fn sync_running_states<B: Backend, M: Module<B>>(model: &M) {
    let _ = model.clone().into_record();
}

struct RestoreMapper<'a> {
    snapshot: &'a BufferSnapshot,
}

impl<B: Backend> ModuleMapper<B> for RestoreMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let saved = self
            .snapshot
            .values
            .get(&param.id)
            .and_then(|v| v.downcast_ref::<Tensor<B, D>>())
            .cloned();
        match saved {
            Some(value) => {
                let (id, _, mapper) = param.consume();
                Param::from_mapped_value(id, value, mapper)
            }
            None => param,
        }
    }
}
