//! The discrete NAS-Bench-201 cell: one candidate per edge, its JSON form and its checks.

use std::path::Path;

use bio_rules::LearningRule;
use serde::{Deserialize, Serialize};

use super::{EDGES, Nb201Candidate, Nb201Operation, edge_ends};
use crate::SpaceError;
use crate::genotype::{read_genotype_file, write_genotype_file};

/// A NAS-Bench-201 cell whose convolutions carry learning rules.
///
/// The six edges are in NAS-Bench-201's order, [`edge_ends`] giving each one's ends:
/// `1 ← 0`, `2 ← 0`, `2 ← 1`, `3 ← 0`, `3 ← 1`, `3 ← 2`. Unlike a DARTS genotype, any
/// edge may be `none`. Written as JSON it reads
/// `{"edges": [{"op": "nor_conv_3x3", "rule": "fa"}, {"op": "skip_connect"}, ...]}`;
/// [`Display`](std::fmt::Display) and [`FromStr`](std::str::FromStr) use NAS-Bench-201's
/// architecture string (see the [module docs](super)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201Genotype {
    /// The candidate of each edge, in the order of [`edge_ends`].
    pub edges: [Nb201Candidate; EDGES],
}

impl Nb201Genotype {
    /// The genotype with operation `ops[e]` on edge `e`, every convolution on `rule`.
    pub fn from_ops(ops: [Nb201Operation; EDGES], rule: LearningRule) -> Self {
        let edges = ops.map(|op| Nb201Candidate {
            op,
            rule: op.is_conv().then_some(rule),
        });
        Self { edges }
    }

    /// Checks that each edge has a rule exactly when its operation is a convolution.
    pub fn validate(&self) -> Result<(), SpaceError> {
        for (edge, &candidate) in self.edges.iter().enumerate() {
            let reason = if candidate.op.is_conv() && candidate.rule.is_none() {
                "has weights but no learning rule"
            } else if !candidate.op.is_conv() && candidate.rule.is_some() {
                "has no weights, so it takes no learning rule"
            } else {
                continue;
            };
            let (from, to) = edge_ends(edge);
            return Err(SpaceError::Nb201BadCandidate {
                edge,
                from,
                to,
                candidate,
                reason,
            });
        }
        Ok(())
    }

    /// The same cell with every convolution on `rule` (a single-rule baseline).
    pub fn with_rule(mut self, rule: LearningRule) -> Self {
        for edge in self.edges.iter_mut().filter(|e| e.op.is_conv()) {
            edge.rule = Some(rule);
        }
        self
    }

    /// Parses and validates a genotype from JSON text.
    pub fn from_json(text: &str) -> Result<Self, SpaceError> {
        Self::parse_json(text, "<string>")
    }

    fn parse_json(text: &str, origin: &str) -> Result<Self, SpaceError> {
        let genotype: Self = serde_json::from_str(text).map_err(|source| SpaceError::Json {
            origin: origin.to_string(),
            source,
        })?;
        genotype.validate()?;
        Ok(genotype)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genotype always serializes")
    }

    /// Reads and validates a genotype file (JSON).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SpaceError> {
        let path = path.as_ref();
        let text = read_genotype_file(path)?;
        Self::parse_json(&text, &path.display().to_string())
    }

    /// Writes the genotype as pretty JSON, atomically (a temporary file, then a rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SpaceError> {
        write_genotype_file(path.as_ref(), &self.to_json())
    }
}
