//! Genotypes: the discrete cells a search ends with, their JSON form and their checks.

use bio_rules::LearningRule;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

use crate::{Candidate, Operation, SpaceError};

/// Intermediate nodes per cell.
pub const STEPS: usize = 4;
/// Edges a genotype keeps per cell: two per node.
pub const KEPT_EDGES: usize = 2 * STEPS;

/// One kept edge: a candidate and the state it reads (0, 1: the cell inputs; 2..: nodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenotypeEdge {
    /// The operation.
    pub op: Operation,
    /// The learning rule, for operations with weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<LearningRule>,
    /// The state the edge reads.
    pub input: usize,
}

impl GenotypeEdge {
    /// The edge's candidate.
    pub fn candidate(&self) -> Candidate {
        Candidate {
            op: self.op,
            rule: self.rule,
        }
    }

    /// An edge from a candidate.
    pub fn new(candidate: Candidate, input: usize) -> Self {
        Self {
            op: candidate.op,
            rule: candidate.rule,
            input,
        }
    }
}

/// A cell of a genotype: its edges, two per node in node order, and the states concatenated
/// into its output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellGenotype {
    /// Two edges per intermediate node, node 2 first.
    pub edges: Vec<GenotypeEdge>,
    /// States concatenated into the output (DARTS: `[2, 3, 4, 5]`).
    pub concat: Vec<usize>,
}

/// A DARTS genotype whose operations carry learning rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genotype {
    /// The normal cell.
    pub normal: CellGenotype,
    /// The reduction cell.
    pub reduce: CellGenotype,
}

impl CellGenotype {
    fn validate(&self, cell: &'static str) -> Result<(), SpaceError> {
        if self.edges.len() != KEPT_EDGES {
            let (found, expected) = (self.edges.len(), KEPT_EDGES);
            return Err(SpaceError::EdgeCount {
                cell,
                found,
                expected,
            });
        }
        for (edge, e) in self.edges.iter().enumerate() {
            let node = 2 + edge / 2;
            if e.input >= node {
                return Err(SpaceError::InputOutOfRange {
                    cell,
                    edge,
                    node,
                    input: e.input,
                });
            }
            check_candidate(cell, edge, e.candidate())?;
            if edge % 2 == 1 && self.edges[edge - 1].input == e.input {
                return Err(SpaceError::DuplicateInput {
                    cell,
                    node,
                    input: e.input,
                });
            }
        }
        let end = 2 + STEPS;
        let mut seen = self.concat.clone();
        seen.sort_unstable();
        seen.dedup();
        let bad = seen.len() != self.concat.len() || seen.iter().any(|&s| !(2..end).contains(&s));
        if self.concat.is_empty() || bad {
            return Err(SpaceError::BadConcat {
                cell,
                concat: self.concat.clone(),
                end,
            });
        }
        Ok(())
    }
}

fn check_candidate(
    cell: &'static str,
    edge: usize,
    candidate: Candidate,
) -> Result<(), SpaceError> {
    let reason = if candidate.op == Operation::None {
        "is the zero operation, which a genotype never keeps"
    } else if candidate.op.is_conv() && candidate.rule.is_none() {
        "has weights but no learning rule"
    } else if !candidate.op.is_conv() && candidate.rule.is_some() {
        "has no weights, so it takes no learning rule"
    } else {
        return Ok(());
    };
    Err(SpaceError::BadCandidate {
        cell,
        edge,
        candidate,
        reason,
    })
}

impl Genotype {
    /// Checks the structure: eight edges per cell, inputs that exist, two distinct inputs
    /// per node, no `none`, rules exactly on weighted operations, a sound concatenation.
    pub fn validate(&self) -> Result<(), SpaceError> {
        self.normal.validate("normal")?;
        self.reduce.validate("reduce")
    }

    /// Parses and validates a genotype from JSON text.
    pub fn from_json(text: &str) -> Result<Self, SpaceError> {
        Self::parse(text, "<string>")
    }

    fn parse(text: &str, origin: &str) -> Result<Self, SpaceError> {
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

    /// The same cells with every weighted operation on `rule` (a single-rule baseline).
    pub fn with_rule(mut self, rule: LearningRule) -> Self {
        for edge in self
            .normal
            .edges
            .iter_mut()
            .chain(self.reduce.edges.iter_mut())
        {
            if edge.op.is_conv() {
                edge.rule = Some(rule);
            }
        }
        self
    }

    /// Reads and validates a genotype file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SpaceError> {
        let path = path.as_ref();
        let text = read_genotype_file(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes the genotype as pretty JSON, atomically (a temporary file, then a rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SpaceError> {
        write_genotype_file(path.as_ref(), &self.to_json())
    }
}

/// The text of a genotype file; an error names the file.
pub(crate) fn read_genotype_file(path: &Path) -> Result<String, SpaceError> {
    std::fs::read_to_string(path).map_err(|source| SpaceError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `text` to `path` atomically (a temporary file, then a rename).
pub(crate) fn write_genotype_file(path: &Path, text: &str) -> Result<(), SpaceError> {
    let io = |source| SpaceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// DARTS' Python form, with rule suffixes (`_fa`, `_u`, `_br`, `_fr`, `_bp`) on weighted
/// operations: `Genotype(normal=[('sep_conv_3x3_fr', 1), ...], normal_concat=[2, 3, 4, 5],
/// reduce=[...], reduce_concat=[...])`.
impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cell = |c: &CellGenotype| {
            let edges: Vec<String> = c
                .edges
                .iter()
                .map(|e| format!("('{}', {})", darts_name(e), e.input))
                .collect();
            (
                edges.join(", "),
                c.concat
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        let (normal, normal_concat) = cell(&self.normal);
        let (reduce, reduce_concat) = cell(&self.reduce);
        write!(
            f,
            "Genotype(normal=[{normal}], normal_concat=[{normal_concat}], \
             reduce=[{reduce}], reduce_concat=[{reduce_concat}])"
        )
    }
}

fn darts_name(edge: &GenotypeEdge) -> String {
    let suffix = match edge.rule {
        None => return edge.op.name().to_string(),
        Some(LearningRule::Bp) => "bp",
        Some(LearningRule::Fa) => "fa",
        Some(LearningRule::Usf) => "u",
        Some(LearningRule::Brsf) => "br",
        Some(LearningRule::Frsf) => "fr",
        Some(LearningRule::Dfa) => "dfa",
        Some(LearningRule::Hebbian) => "hebb",
    };
    format!("{}_{suffix}", edge.op.name())
}

/// Well-known genotypes.
pub mod known {
    use super::*;
    use LearningRule::{Bp, Frsf, Usf};
    use Operation::{DilConv3x3, DilConv5x5, MaxPool3x3, SepConv3x3, SkipConnect};

    fn e(op: Operation, rule: Option<LearningRule>, input: usize) -> GenotypeEdge {
        GenotypeEdge { op, rule, input }
    }

    fn cell(edges: Vec<GenotypeEdge>) -> CellGenotype {
        CellGenotype {
            edges,
            concat: vec![2, 3, 4, 5],
        }
    }

    /// The cell of the original DARTS paper (second order), every convolution on BP.
    pub fn darts_v2() -> Genotype {
        let sep = |i| e(SepConv3x3, Some(Bp), i);
        Genotype {
            normal: cell(vec![
                sep(0),
                sep(1),
                sep(0),
                sep(1),
                sep(1),
                e(SkipConnect, None, 0),
                e(SkipConnect, None, 0),
                e(DilConv3x3, Some(Bp), 2),
            ]),
            reduce: cell(vec![
                e(MaxPool3x3, None, 0),
                e(MaxPool3x3, None, 1),
                e(SkipConnect, None, 2),
                e(MaxPool3x3, None, 1),
                e(MaxPool3x3, None, 0),
                e(SkipConnect, None, 2),
                e(SkipConnect, None, 2),
                e(MaxPool3x3, None, 1),
            ]),
        }
    }

    /// The best mixed-rule cell released with the paper ("BIODARTS").
    pub fn biodarts() -> Genotype {
        let skip = |i| e(SkipConnect, None, i);
        let max = |i| e(MaxPool3x3, None, i);
        Genotype {
            normal: cell(vec![
                skip(0),
                skip(1),
                e(SepConv3x3, Some(Frsf), 1),
                e(SepConv3x3, Some(Usf), 2),
                e(SepConv3x3, Some(Usf), 0),
                skip(1),
                e(SepConv3x3, Some(Frsf), 1),
                max(0),
            ]),
            reduce: cell(vec![
                max(0),
                skip(1),
                max(0),
                max(1),
                max(0),
                max(1),
                max(0),
                e(DilConv5x5, Some(Usf), 3),
            ]),
        }
    }
}
