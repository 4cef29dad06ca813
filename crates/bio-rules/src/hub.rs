//! The per-network hub: what a rule layer needs beyond its own weights.
//!
//! Two things cross layer boundaries:
//!
//! - **DFA's output error.** A direct-feedback-alignment layer sends `e = ∂L/∂logits`
//!   straight to its input. The network passes its logits through [`RuleHub::tap`], whose
//!   backward step stores `e` in the hub; Burn's backward pass runs nodes from the newest
//!   to the oldest, so the tap (downstream of every layer) stores `e` before any DFA layer
//!   reads it.
//! - **The alignment probe.** While a probe records (see [`alignment`](crate::alignment)),
//!   layers record the input gradient they send and how their feedback compares with their
//!   weight; in back-propagation mode they send the true gradient instead of the rule's.
//!
//! A hub is a small `Copy` handle (an id and the number of classes), so builders can hand
//! it to every layer of a network; its state lives in a process-wide table.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use burn::module::ParamId;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use serde::{Deserialize, Serialize};

use crate::{LearningRule, RuleBackend};

/// The handle that links the rule layers of one network to its output (for DFA) and to
/// the alignment probe.
///
/// ```
/// use bio_rules::RuleHub;
/// let hub = RuleHub::new(10);
/// assert_eq!(hub.classes(), 10);
/// assert_ne!(hub, RuleHub::new(10)); // every hub is distinct
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleHub {
    id: u64,
    classes: usize,
}

/// What one layer recorded during a probe pass.
#[derive(Debug)]
pub(crate) struct LayerRecord {
    pub rule: LearningRule,
    /// The input gradient the layer sent, as a tensor of the inner backend.
    pub input_grad: Option<Box<dyn Any + Send>>,
    /// Angle between `W` and `B` in degrees, for weight-shaped feedback.
    pub weight_angle: Option<f64>,
    /// `‖B‖ / ‖W‖`, for weight-shaped feedback.
    pub norm_ratio: Option<f64>,
}

#[derive(Default)]
struct HubState {
    error: Option<Box<dyn Any + Send>>,
    backprop: bool,
    recording: Option<HashMap<ParamId, LayerRecord>>,
}

fn table() -> MutexGuard<'static, HashMap<u64, HubState>> {
    static TABLE: OnceLock<Mutex<HashMap<u64, HubState>>> = OnceLock::new();
    TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

impl RuleHub {
    /// A new hub for a network with `classes` outputs.
    pub fn new(classes: usize) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            classes,
        }
    }

    /// The number of network outputs (the rows of DFA's projections).
    pub fn classes(self) -> usize {
        self.classes
    }

    /// Passes the network's logits through unchanged; in the backward pass, stores their
    /// gradient `e = ∂L/∂logits` for the DFA layers of this hub. Call it on the output of
    /// every network that holds DFA layers (the search-space networks do).
    ///
    /// # Shapes
    /// - logits: `[batch, classes]`
    pub fn tap<B: RuleBackend>(self, logits: Tensor<B, 2>) -> Tensor<B, 2> {
        let out = B::error_tap(logits.into_primitive().tensor(), self);
        Tensor::from_primitive(TensorPrimitive::Float(out))
    }

    /// The output error stored by the last backward pass through [`tap`](Self::tap), on
    /// the backend the backward pass ran on (the inner backend of `Autodiff`).
    pub fn last_error<B: Backend>(self) -> Option<Tensor<B, 2>> {
        self.stored_error::<B>()
            .map(|t| Tensor::from_primitive(TensorPrimitive::Float(t)))
    }

    fn stored_error<B: Backend>(self) -> Option<FloatTensor<B>> {
        self.read(|s| {
            s.error
                .as_ref()
                .and_then(|e| e.downcast_ref::<FloatTensor<B>>())
                .cloned()
        })
        .flatten()
    }

    pub(crate) fn store_error<B: Backend>(self, error: FloatTensor<B>) {
        self.with_state(|s| s.error = Some(Box::new(error)));
    }

    /// The output error for a DFA layer's backward step.
    ///
    /// # Panics
    /// When no error was stored: the network's logits did not go through [`Self::tap`].
    /// That is a wiring bug in the model's code, not bad input.
    pub(crate) fn error<B: Backend>(self) -> FloatTensor<B> {
        self.stored_error::<B>().expect(
            "a DFA layer found no output error: pass the network's logits through \
             RuleHub::tap (with the hub the layer was built with) before the loss",
        )
    }

    /// Whether layers send back-propagation's input gradient instead of their rule's.
    pub fn is_backprop(self) -> bool {
        self.read(|s| s.backprop).unwrap_or(false)
    }

    pub(crate) fn set_backprop(self, on: bool) {
        self.with_state(|s| s.backprop = on);
    }

    pub(crate) fn is_recording(self) -> bool {
        self.read(|s| s.recording.is_some()).unwrap_or(false)
    }

    pub(crate) fn start_recording(self) {
        self.with_state(|s| s.recording = Some(HashMap::new()));
    }

    pub(crate) fn take_recording(self) -> HashMap<ParamId, LayerRecord> {
        self.with_state(|s| s.recording.take()).unwrap_or_default()
    }

    /// Adds to the record of layer `key`, creating it, while a recording is on.
    pub(crate) fn record(self, key: ParamId, rule: LearningRule, f: impl FnOnce(&mut LayerRecord)) {
        self.with_state(|s| {
            if let Some(recording) = s.recording.as_mut() {
                let entry = recording.entry(key).or_insert_with(|| LayerRecord {
                    rule,
                    input_grad: None,
                    weight_angle: None,
                    norm_ratio: None,
                });
                f(entry);
            }
        });
    }

    /// Reads the state without creating it (`None` for a hub nothing was stored in).
    fn read<R>(self, f: impl FnOnce(&HubState) -> R) -> Option<R> {
        table().get(&self.id).map(f)
    }

    fn with_state<R>(self, f: impl FnOnce(&mut HubState) -> R) -> R {
        let mut table = table();
        f(table.entry(self.id).or_default())
    }
}
