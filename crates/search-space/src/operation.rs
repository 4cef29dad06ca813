//! Operations, candidates (operation, rule) and the candidate list of an edge.

use bio_rules::LearningRule;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::SpaceError;

/// An operation on an edge of a DARTS cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// The zero operation: the edge is absent.
    None,
    /// 3×3 max pooling, padding 1.
    #[serde(rename = "max_pool_3x3")]
    MaxPool3x3,
    /// 3×3 average pooling, padding 1, padding not counted.
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3,
    /// Identity (a factorized reduce when the edge has stride 2).
    SkipConnect,
    /// Separable convolution 3×3, applied twice.
    #[serde(rename = "sep_conv_3x3")]
    SepConv3x3,
    /// Separable convolution 5×5, applied twice.
    #[serde(rename = "sep_conv_5x5")]
    SepConv5x5,
    /// Dilated (rate 2) separable convolution 3×3.
    #[serde(rename = "dil_conv_3x3")]
    DilConv3x3,
    /// Dilated (rate 2) separable convolution 5×5.
    #[serde(rename = "dil_conv_5x5")]
    DilConv5x5,
}

impl Operation {
    /// Every operation, in DARTS' order.
    pub const ALL: [Operation; 8] = [
        Self::None,
        Self::MaxPool3x3,
        Self::AvgPool3x3,
        Self::SkipConnect,
        Self::SepConv3x3,
        Self::SepConv5x5,
        Self::DilConv3x3,
        Self::DilConv5x5,
    ];

    /// The DARTS name, e.g. `sep_conv_3x3`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::MaxPool3x3 => "max_pool_3x3",
            Self::AvgPool3x3 => "avg_pool_3x3",
            Self::SkipConnect => "skip_connect",
            Self::SepConv3x3 => "sep_conv_3x3",
            Self::SepConv5x5 => "sep_conv_5x5",
            Self::DilConv3x3 => "dil_conv_3x3",
            Self::DilConv5x5 => "dil_conv_5x5",
        }
    }

    /// Whether the operation has weights, and so a learning rule.
    pub fn is_conv(self) -> bool {
        matches!(
            self,
            Self::SepConv3x3 | Self::SepConv5x5 | Self::DilConv3x3 | Self::DilConv5x5
        )
    }

    /// Whether the operation is a pooling.
    pub fn is_pool(self) -> bool {
        matches!(self, Self::MaxPool3x3 | Self::AvgPool3x3)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Operation {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|op| op.name() == s.trim())
            .ok_or_else(|| SpaceError::UnknownOperation {
                name: s.to_string(),
            })
    }
}

/// A candidate of an edge: an operation and, for operations with weights, its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Candidate {
    /// The operation.
    pub op: Operation,
    /// The learning rule of the operation's convolutions; `None` for weightless operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<LearningRule>,
}

impl Candidate {
    /// A weightless operation.
    pub const fn plain(op: Operation) -> Self {
        Self { op, rule: None }
    }

    /// An operation with weights, learning by `rule`.
    pub const fn with_rule(op: Operation, rule: LearningRule) -> Self {
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

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Some(rule) => write!(f, "{}[{}]", self.op, rule),
            None => write!(f, "{}", self.op),
        }
    }
}

/// The ordered list of candidates every edge of a supernet chooses from.
///
/// Built from a rule set: the four weightless operations (`none`, both pools, skip) and
/// every convolution operation with every rule. The paper's four rules give 20 candidates;
/// its released list had 22 because it repeated `skip_connect` three times, which only
/// tilts the softmax towards skip and is not reproduced here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateSet {
    candidates: Vec<Candidate>,
}

impl CandidateSet {
    /// The candidates for the given rules, weightless operations first.
    pub fn new(rules: &[LearningRule]) -> Result<Self, SpaceError> {
        if rules.is_empty() {
            return Err(SpaceError::NoRules);
        }
        for (i, rule) in rules.iter().enumerate() {
            if rules[..i].contains(rule) {
                return Err(SpaceError::DuplicateRule(*rule));
            }
        }
        let plain = Operation::ALL
            .into_iter()
            .filter(|op| !op.is_conv())
            .map(Candidate::plain);
        let convs = Operation::ALL
            .into_iter()
            .filter(|op| op.is_conv())
            .flat_map(|op| {
                rules
                    .iter()
                    .map(move |&rule| Candidate::with_rule(op, rule))
            });
        Ok(Self {
            candidates: plain.chain(convs).collect(),
        })
    }

    /// The paper's set: FA, uSF, brSF, frSF.
    pub fn paper() -> Self {
        Self::new(&LearningRule::PAPER).expect("the paper's rule set is valid")
    }

    /// The candidates in order.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Whether the set is empty (never, for a set built by [`CandidateSet::new`]).
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The index of the `none` candidate.
    pub fn none_index(&self) -> Option<usize> {
        self.candidates.iter().position(|c| c.op == Operation::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_set_has_twenty_distinct_candidates() {
        let set = CandidateSet::paper();
        assert_eq!(set.len(), 20);
        assert_eq!(set.none_index(), Some(0));
        let mut unique = set.candidates().to_vec();
        unique.dedup();
        assert_eq!(unique.len(), 20);
        assert!(set.candidates().iter().all(Candidate::is_consistent));
    }

    #[test]
    fn empty_or_repeated_rule_sets_are_refused() {
        assert!(matches!(CandidateSet::new(&[]), Err(SpaceError::NoRules)));
        let twice = [LearningRule::Fa, LearningRule::Fa];
        assert!(matches!(
            CandidateSet::new(&twice),
            Err(SpaceError::DuplicateRule(LearningRule::Fa))
        ));
    }

    #[test]
    fn names_parse_back() {
        for op in Operation::ALL {
            assert_eq!(op.name().parse::<Operation>().ok(), Some(op));
        }
        assert!("conv_7x7".parse::<Operation>().is_err());
    }
}
