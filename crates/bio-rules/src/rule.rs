//! The learning rules and their names.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a layer sends its error to the layer below.
///
/// Every rule keeps the ordinary forward pass and the ordinary weight gradient; only the
/// gradient passed to the layer's input changes. See the crate documentation for the math.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LearningRule {
    /// Back-propagation: the feedback is the forward weight itself.
    Bp,
    /// Feedback alignment: a fixed random feedback drawn once.
    Fa,
    /// Uniform sign-symmetry: `s · sign(W)` with `s = sqrt(2 / (fan_in + fan_out))`.
    Usf,
    /// Batchwise-random-magnitude sign-symmetry: `|M| ∘ sign(W)`, `M` redrawn every forward.
    Brsf,
    /// Fixed-random-magnitude sign-symmetry: `|B0| ∘ sign(W)`, `|B0|` drawn once.
    Frsf,
    /// Direct feedback alignment: the network's output error `e = ∂L/∂logits` reaches the
    /// layer's input through a fixed random projection, `δx = e · P` (see
    /// [`RuleHub`](crate::RuleHub)).
    Dfa,
    /// A local, gradient-free Hebbian update (Oja's rule on normalised input patches);
    /// no error crosses the layer (see [`hebbian`](crate::hebbian)).
    Hebbian,
}

impl LearningRule {
    /// Every rule, in a fixed order.
    pub const ALL: [LearningRule; 7] = [
        Self::Bp,
        Self::Fa,
        Self::Usf,
        Self::Brsf,
        Self::Frsf,
        Self::Dfa,
        Self::Hebbian,
    ];

    /// The rules whose feedback tensor has the shape of the weight: BP, FA and the three
    /// sign-symmetry rules.
    pub const WEIGHT_SHAPED: [LearningRule; 5] =
        [Self::Bp, Self::Fa, Self::Usf, Self::Brsf, Self::Frsf];

    /// The four rules of the paper's released search space (BP is not among them).
    pub const PAPER: [LearningRule; 4] = [Self::Fa, Self::Usf, Self::Brsf, Self::Frsf];

    /// The serialized name: `bp`, `fa`, `usf`, `brsf`, `frsf`, `dfa` or `hebbian`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bp => "bp",
            Self::Fa => "fa",
            Self::Usf => "usf",
            Self::Brsf => "brsf",
            Self::Frsf => "frsf",
            Self::Dfa => "dfa",
            Self::Hebbian => "hebbian",
        }
    }

    /// Whether the rule keeps a tensor that is drawn once and saved with the model (FA's
    /// `B0`, frSF's `|B0|`, DFA's projection).
    pub fn has_fixed_state(self) -> bool {
        matches!(self, Self::Fa | Self::Frsf | Self::Dfa)
    }

    /// Whether the layer's input gradient comes from a feedback tensor of the weight's
    /// shape (BP, FA, uSF, brSF, frSF), so that the angle between `W` and `B` is defined.
    pub fn is_weight_shaped(self) -> bool {
        Self::WEIGHT_SHAPED.contains(&self)
    }
}

impl fmt::Display for LearningRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error type of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A rule name is not one of the names of [`LearningRule::name`].
    #[error(
        "unknown learning rule `{name}`: expected one of bp, fa, usf, brsf, frsf, dfa, hebbian"
    )]
    UnknownRule {
        /// The name that was given.
        name: String,
    },
}

impl FromStr for LearningRule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|rule| rule.name() == lower)
            .ok_or_else(|| RuleError::UnknownRule {
                name: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for rule in LearningRule::ALL {
            assert_eq!(rule.name().parse::<LearningRule>(), Ok(rule));
            let json = serde_json::to_string(&rule).expect("serialize");
            assert_eq!(json, format!("\"{}\"", rule.name()));
            let back: LearningRule = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, rule);
        }
        assert!("sgd".parse::<LearningRule>().is_err());
        assert_eq!("FRSF".parse::<LearningRule>(), Ok(LearningRule::Frsf));
    }
}
