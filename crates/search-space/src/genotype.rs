//! Genotypes: the discrete cells a search ends with, their JSON form and their checks.

use bio_rules::LearningRule;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

use crate::nb201::Nb201Candidate;
use crate::{Candidate, Operation};

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

/// What is wrong with a genotype.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenotypeError {
    /// The file could not be read or written.
    #[error("cannot access genotype file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The text is not a genotype in JSON.
    #[error("{origin}: not a valid genotype JSON: {source}")]
    Json {
        /// The file, or `<string>`.
        origin: String,
        /// The cause, with line and column.
        source: serde_json::Error,
    },
    /// A cell has the wrong number of edges.
    #[error("{cell} cell has {found} edges; expected {expected} (two per node)")]
    EdgeCount {
        /// `normal` or `reduce`.
        cell: &'static str,
        /// Edges found.
        found: usize,
        /// Edges expected.
        expected: usize,
    },
    /// An edge reads a state that does not exist yet.
    #[error(
        "{cell} cell, edge {edge} (node {node}) reads state {input}; node {node} can read 0..{node}"
    )]
    InputOutOfRange {
        /// `normal` or `reduce`.
        cell: &'static str,
        /// Edge index.
        edge: usize,
        /// The node the edge feeds.
        node: usize,
        /// The state it reads.
        input: usize,
    },
    /// Both edges of a node read the same state.
    #[error("{cell} cell, node {node} reads state {input} twice")]
    DuplicateInput {
        /// `normal` or `reduce`.
        cell: &'static str,
        /// The node.
        node: usize,
        /// The state.
        input: usize,
    },
    /// A candidate is `none`, or has a rule exactly when it should not.
    #[error("{cell} cell, edge {edge}: `{candidate}` {reason}")]
    BadCandidate {
        /// `normal` or `reduce`.
        cell: &'static str,
        /// Edge index.
        edge: usize,
        /// The candidate.
        candidate: Candidate,
        /// What is wrong.
        reason: &'static str,
    },
    /// The output concatenation is empty, repeats a state or names a missing one.
    #[error("{cell} cell: concat {concat:?} must list distinct nodes among 2..{end}")]
    BadConcat {
        /// `normal` or `reduce`.
        cell: &'static str,
        /// The list.
        concat: Vec<usize>,
        /// One past the last node.
        end: usize,
    },
    /// Text in DARTS' Python form could not be read.
    #[error("DARTS genotype text, byte {position} (near `{near}`): {reason}")]
    DartsSyntax {
        /// Byte offset of the problem.
        position: usize,
        /// What is wrong.
        reason: String,
        /// The text from there on (a few characters).
        near: String,
    },
    /// A NAS-Bench-201 edge has a rule exactly when it should not.
    #[error("NAS-Bench-201 edge {edge} ({to} <- {from}): `{candidate}` {reason}")]
    Nb201BadCandidate {
        /// Edge index, in NAS-Bench-201's order.
        edge: usize,
        /// The node the edge reads.
        from: usize,
        /// The node the edge feeds.
        to: usize,
        /// The candidate.
        candidate: Nb201Candidate,
        /// What is wrong.
        reason: &'static str,
    },
    /// A NAS-Bench-201 architecture string could not be read.
    #[error("NAS-Bench-201 architecture string, byte {position} (near `{near}`): {reason}")]
    Nb201Syntax {
        /// Byte offset of the problem.
        position: usize,
        /// What is wrong.
        reason: String,
        /// The text from there on (a few characters).
        near: String,
    },
    /// A network size or setting is out of range.
    #[error("invalid network configuration: {0}")]
    Size(String),
}

impl CellGenotype {
    fn validate(&self, cell: &'static str) -> Result<(), GenotypeError> {
        if self.edges.len() != KEPT_EDGES {
            let (found, expected) = (self.edges.len(), KEPT_EDGES);
            return Err(GenotypeError::EdgeCount {
                cell,
                found,
                expected,
            });
        }
        for (edge, e) in self.edges.iter().enumerate() {
            let node = 2 + edge / 2;
            if e.input >= node {
                return Err(GenotypeError::InputOutOfRange {
                    cell,
                    edge,
                    node,
                    input: e.input,
                });
            }
            check_candidate(cell, edge, e.candidate())?;
            if edge % 2 == 1 && self.edges[edge - 1].input == e.input {
                return Err(GenotypeError::DuplicateInput {
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
            return Err(GenotypeError::BadConcat {
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
) -> Result<(), GenotypeError> {
    let reason = if candidate.op == Operation::None {
        "is the zero operation, which a genotype never keeps"
    } else if candidate.op.is_conv() && candidate.rule.is_none() {
        "has weights but no learning rule"
    } else if !candidate.op.is_conv() && candidate.rule.is_some() {
        "has no weights, so it takes no learning rule"
    } else {
        return Ok(());
    };
    Err(GenotypeError::BadCandidate {
        cell,
        edge,
        candidate,
        reason,
    })
}

impl Genotype {
    /// Checks the structure: eight edges per cell, inputs that exist, two distinct inputs
    /// per node, no `none`, rules exactly on weighted operations, a sound concatenation.
    pub fn validate(&self) -> Result<(), GenotypeError> {
        self.normal.validate("normal")?;
        self.reduce.validate("reduce")
    }

    /// Parses and validates a genotype from JSON text.
    pub fn from_json(text: &str) -> Result<Self, GenotypeError> {
        Self::parse(text, "<string>")
    }

    fn parse(text: &str, origin: &str) -> Result<Self, GenotypeError> {
        let genotype: Self = serde_json::from_str(text).map_err(|source| GenotypeError::Json {
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
    pub fn load(path: impl AsRef<Path>) -> Result<Self, GenotypeError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| GenotypeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes the genotype as pretty JSON, atomically (a temporary file, then a rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), GenotypeError> {
        let path = path.as_ref();
        let io = |source| GenotypeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, self.to_json()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
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
