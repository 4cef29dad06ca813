//! NAS-Bench-201's operations, its (operation, rule) candidates and their ordered list.

use std::fmt;
use std::str::FromStr;

use bio_rules::LearningRule;
use serde::{Deserialize, Serialize};

use crate::SpaceError;

/// An operation on an edge of a NAS-Bench-201 cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Nb201Operation {
    /// The zero operation: the edge carries nothing.
    #[serde(rename = "none")]
    None,
    /// The identity.
    #[serde(rename = "skip_connect")]
    SkipConnect,
    /// ReLU, 1×1 convolution, batch norm.
    #[serde(rename = "nor_conv_1x1")]
    NorConv1x1,
    /// ReLU, 3×3 convolution (padding 1), batch norm.
    #[serde(rename = "nor_conv_3x3")]
    NorConv3x3,
    /// 3×3 average pooling, stride 1, padding 1, padding not counted.
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3,
}

impl Nb201Operation {
    /// Every operation, in NAS-Bench-201's order.
    pub const ALL: [Nb201Operation; 5] = [
        Self::None,
        Self::SkipConnect,
        Self::NorConv1x1,
        Self::NorConv3x3,
        Self::AvgPool3x3,
    ];

    /// The NAS-Bench-201 name, e.g. `nor_conv_3x3`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::SkipConnect => "skip_connect",
            Self::NorConv1x1 => "nor_conv_1x1",
            Self::NorConv3x3 => "nor_conv_3x3",
            Self::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// The kernel size of a convolution; `None` for the weightless operations.
    pub fn kernel(self) -> Option<usize> {
        match self {
            Self::NorConv1x1 => Some(1),
            Self::NorConv3x3 => Some(3),
            Self::None | Self::SkipConnect | Self::AvgPool3x3 => None,
        }
    }

    /// Whether the operation has weights, and so a learning rule.
    pub fn is_conv(self) -> bool {
        self.kernel().is_some()
    }
}

impl fmt::Display for Nb201Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Nb201Operation {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| SpaceError::UnknownNb201Operation {
                name: s.to_string(),
            })
    }
}

/// A candidate of a NAS-Bench-201 edge: an operation and, for a convolution, its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201Candidate {
    /// The operation.
    pub op: Nb201Operation,
    /// The learning rule of the convolution; `None` for weightless operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<LearningRule>,
}

impl Nb201Candidate {
    /// A weightless operation.
    pub const fn plain(op: Nb201Operation) -> Self {
        Self { op, rule: None }
    }

    /// A convolution learning by `rule`.
    pub const fn with_rule(op: Nb201Operation, rule: LearningRule) -> Self {
        Self {
            op,
            rule: Some(rule),
        }
    }

    /// Whether the candidate is well formed: a rule exactly when the operation has weights.
    pub fn is_consistent(&self) -> bool {
        self.op.is_conv() == self.rule.is_some()
    }
}

impl fmt::Display for Nb201Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Some(rule) => write!(f, "{}[{}]", self.op, rule),
            None => write!(f, "{}", self.op),
        }
    }
}

/// The ordered list of candidates every edge of an [`Nb201Supernet`](super::Nb201Supernet)
/// chooses from: the three weightless operations (`none`, `skip_connect`,
/// `avg_pool_3x3`), then each convolution with each rule. The paper's four rules give 11.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nb201CandidateSet {
    candidates: Vec<Nb201Candidate>,
}

impl Nb201CandidateSet {
    /// The candidates for the given rules, weightless operations first.
    pub fn new(rules: &[LearningRule]) -> Result<Self, SpaceError> {
        if rules.is_empty() {
            return Err(SpaceError::NoRules);
        }
        if let Some((i, _)) = rules
            .iter()
            .enumerate()
            .find(|(i, rule)| rules[..*i].contains(rule))
        {
            return Err(SpaceError::DuplicateRule(rules[i]));
        }
        let plain = Nb201Operation::ALL
            .into_iter()
            .filter(|op| !op.is_conv())
            .map(Nb201Candidate::plain);
        let convs = Nb201Operation::ALL
            .into_iter()
            .filter(|op| op.is_conv())
            .flat_map(|op| rules.iter().map(move |&r| Nb201Candidate::with_rule(op, r)));
        Ok(Self {
            candidates: plain.chain(convs).collect(),
        })
    }

    /// The paper's set: FA, uSF, brSF, frSF.
    pub fn paper() -> Self {
        Self::new(&LearningRule::PAPER).expect("the paper's rule set is valid")
    }

    /// The candidates in order.
    pub fn candidates(&self) -> &[Nb201Candidate] {
        &self.candidates
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Whether the set is empty (never, for a set built by [`Nb201CandidateSet::new`]).
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The column of `candidate` in the `α` matrix, if it is in the set.
    pub fn index_of(&self, candidate: Nb201Candidate) -> Option<usize> {
        self.candidates.iter().position(|&c| c == candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_set_has_eleven_consistent_candidates() {
        let set = Nb201CandidateSet::paper();
        assert_eq!(set.len(), 3 + 2 * 4);
        assert_eq!(
            set.candidates()[0],
            Nb201Candidate::plain(Nb201Operation::None)
        );
        assert!(set.candidates().iter().all(Nb201Candidate::is_consistent));
    }

    #[test]
    fn empty_or_repeated_rule_sets_are_refused() {
        assert!(matches!(
            Nb201CandidateSet::new(&[]),
            Err(SpaceError::NoRules)
        ));
        let twice = [LearningRule::Fa, LearningRule::Bp, LearningRule::Fa];
        assert!(matches!(
            Nb201CandidateSet::new(&twice),
            Err(SpaceError::DuplicateRule(LearningRule::Fa))
        ));
    }

    #[test]
    fn names_parse_back() {
        for op in Nb201Operation::ALL {
            assert_eq!(op.name().parse::<Nb201Operation>().ok(), Some(op));
        }
        assert!("sep_conv_3x3".parse::<Nb201Operation>().is_err());
    }
}
