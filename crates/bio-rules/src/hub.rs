//! The per-network hub: what a rule layer needs beyond its own weights.
//!
//! Two things cross layer boundaries:
//!
//! - **DFA's output error.** A direct-feedback-alignment layer sends `e = ∂L/∂logits`
//!   straight to its input. The network passes its logits through [`RuleHub::tap`], whose
//!   backward step stores `e` in the hub. Burn runs backward steps by their depth in the
//!   graph, deepest first; the tap lies downstream of every layer that produced the logits,
//!   so it stores `e` before any of those layers reads it. Each forward pass through the
//!   tap is numbered, and a DFA layer reads the error of the pass it took part in: two
//!   forward passes before one backward pass each get their own error, and a forward pass
//!   that skipped the tap finds none (a clear panic, not a stale error).
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

use crate::{LearningRule, RuleBackend};
use burn::module::ParamId;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

/// Output errors kept per hub (the latest passes); older ones are dropped.
const KEPT_ERRORS: usize = 4;

/// The handle that links the rule layers of one network to its output (for DFA) and to
/// the alignment probe.
///
/// ```
/// use bio_rules::RuleHub;
/// let hub = RuleHub::new(10);
/// assert_eq!(hub.classes(), 10);
/// assert_ne!(hub, RuleHub::new(10)); // every hub is distinct
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleHub {
    id: u64,
    classes: usize,
}

/// What one layer recorded during a probe pass.
#[derive(Debug)]
pub(crate) struct LayerRecord {
    pub rule: LearningRule,
    /// The input gradient the layer sent, as a tensor of the inner backend (the
    /// back-propagation pass).
    pub input_grad: Option<Box<dyn Any + Send>>,
    /// `[⟨a, b⟩, ‖a‖², ‖b‖²]` of the rule's input gradient `a` and back-propagation's `b`,
    /// as one-element tensors of the inner backend (the rule pass).
    pub grad_stats: Option<Box<dyn Any + Send>>,
    /// Angle between `W` and `B` in degrees, for weight-shaped feedback.
    pub weight_angle: Option<f64>,
    /// `‖B‖ / ‖W‖`, for weight-shaped feedback.
    pub norm_ratio: Option<f64>,
}

/// What a probe pass records, and what it compares with.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    pub layers: HashMap<ParamId, LayerRecord>,
    /// The back-propagation pass, during the rule pass.
    pub reference: HashMap<ParamId, LayerRecord>,
}

#[derive(Default)]
struct HubState {
    /// Forward passes through the tap so far.
    passes: u64,
    /// Output errors of the latest passes, by pass number.
    errors: Vec<(u64, Box<dyn Any + Send>)>,
    backprop: bool,
    recording: Option<Recording>,
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
        let error = self.read(|s| {
            let (_, e) = s.errors.iter().max_by_key(|(pass, _)| *pass)?;
            e.downcast_ref::<FloatTensor<B>>().cloned()
        });
        error
            .flatten()
            .map(|t| Tensor::from_primitive(TensorPrimitive::Float(t)))
    }

    /// The number the next forward pass through the tap will get (what a DFA layer in
    /// the current forward pass waits for).
    pub(crate) fn upcoming_pass(self) -> u64 {
        self.read(|s| s.passes).unwrap_or(0) + 1
    }

    /// Numbers a forward pass through the tap.
    pub(crate) fn begin_pass(self) -> u64 {
        self.with_state(|s| {
            s.passes += 1;
            s.passes
        })
    }

    pub(crate) fn store_error<B: Backend>(self, pass: u64, error: FloatTensor<B>) {
        self.with_state(|s| {
            s.errors.retain(|(p, _)| *p != pass);
            s.errors.push((pass, Box::new(error)));
            if s.errors.len() > KEPT_ERRORS {
                s.errors.sort_by_key(|(p, _)| *p);
                s.errors.remove(0);
            }
        });
    }

    /// The output error of forward pass `pass`, for a DFA layer's backward step.
    ///
    /// # Panics
    /// When that pass stored no error: the network's logits did not go through
    /// [`Self::tap`]. That is a wiring bug in the model's code, not bad input.
    pub(crate) fn error<B: Backend>(self, pass: u64) -> FloatTensor<B> {
        let error = self.read(|s| {
            let (_, e) = s.errors.iter().find(|(p, _)| *p == pass)?;
            e.downcast_ref::<FloatTensor<B>>().cloned()
        });
        error.flatten().unwrap_or_else(|| {
            panic!(
                "a DFA layer found no output error for its forward pass: pass the network's \
                 logits through RuleHub::tap (with the hub the layer was built with) in the \
                 same forward pass, before the loss"
            )
        })
    }

    /// Whether a probe records, and whether it is in back-propagation mode, in one read
    /// (a layer asks at every training forward pass).
    pub(crate) fn probe_state(self) -> (bool, bool) {
        self.read(|s| (s.recording.is_some(), s.backprop))
            .unwrap_or((false, false))
    }

    /// Whether layers send back-propagation's input gradient instead of their rule's.
    pub fn is_backprop(self) -> bool {
        self.read(|s| s.backprop).unwrap_or(false)
    }

    /// Runs `f` with every layer of this hub sending back-propagation's exact input
    /// gradient instead of its rule's: a back-propagation view of the same weights, for
    /// true-gradient attacks and comparisons. Each layer reads the setting when it runs
    /// forward and keeps it in its backward step: a forward pass run inside `f` is
    /// differentiated by back-propagation even if `backward()` is called after `f`
    /// returns. Weight gradients of such a pass are back-propagation's too. The hub
    /// returns to its rules when `f` returns or panics.
    ///
    /// ```
    /// use bio_rules::RuleHub;
    /// let hub = RuleHub::new(10);
    /// let inside = hub.with_backprop(|| hub.is_backprop());
    /// assert!(inside && !hub.is_backprop());
    /// ```
    pub fn with_backprop<R>(self, f: impl FnOnce() -> R) -> R {
        struct Restore(RuleHub, bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                self.0.set_backprop(self.1);
            }
        }
        let _restore = Restore(self, self.is_backprop());
        self.set_backprop(true);
        f()
    }

    pub(crate) fn set_backprop(self, on: bool) {
        self.with_state(|s| s.backprop = on);
    }

    /// Whether an alignment probe is recording this hub's layers.
    pub fn is_recording(self) -> bool {
        self.read(|s| s.recording.is_some()).unwrap_or(false)
    }

    /// Starts recording; `reference` is the back-propagation pass to compare with.
    pub(crate) fn start_recording(self, reference: HashMap<ParamId, LayerRecord>) {
        self.with_state(|s| {
            s.recording = Some(Recording {
                layers: HashMap::new(),
                reference,
            })
        });
    }

    pub(crate) fn take_recording(self) -> HashMap<ParamId, LayerRecord> {
        self.with_state(|s| s.recording.take())
            .map(|r| r.layers)
            .unwrap_or_default()
    }

    /// Adds to the record of layer `key`, creating it, while a recording is on; `f` also
    /// sees the layer's record in the reference pass, if any.
    pub(crate) fn record(
        self,
        key: ParamId,
        rule: LearningRule,
        f: impl FnOnce(&mut LayerRecord, Option<&LayerRecord>),
    ) {
        self.with_state(|s| {
            if let Some(recording) = s.recording.as_mut() {
                let entry = recording.layers.entry(key).or_insert_with(|| LayerRecord {
                    rule,
                    input_grad: None,
                    grad_stats: None,
                    weight_angle: None,
                    norm_ratio: None,
                });
                f(entry, recording.reference.get(&key));
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
