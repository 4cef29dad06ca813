//! The error type of this crate.

use bio_rules::LearningRule;

use crate::Candidate;
use crate::nb201::Nb201Candidate;

/// Everything that can go wrong in this crate: a rule set that gives no candidates, a
/// malformed genotype (JSON, DARTS text or NAS-Bench-201 string), a network size out of
/// range.
///
/// Each variant carries the fields a caller needs to react (the cell, the edge, the byte
/// offset); each message names them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpaceError {
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
    /// No rule was given, so no convolution candidate exists.
    #[error("the rule set is empty: give at least one of bp, fa, usf, brsf, frsf")]
    NoRules,
    /// A rule appears twice.
    #[error("the rule set names `{0}` twice")]
    DuplicateRule(LearningRule),
    /// Partial channels (PC-DARTS) need `C` to be a multiple of `k`.
    #[error("partial channels: {channels} channels cannot be split in {k} equal parts")]
    PartialChannels {
        /// The channels `C`.
        channels: usize,
        /// The fraction's denominator `k`.
        k: usize,
    },
    /// An operation name is not one of DARTS' eight.
    #[error(
        "unknown operation `{name}`: expected one of none, max_pool_3x3, avg_pool_3x3, \
         skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5"
    )]
    UnknownOperation {
        /// The name that was given.
        name: String,
    },
    /// An operation name is not one of NAS-Bench-201's five.
    #[error(
        "unknown NAS-Bench-201 operation `{name}`: expected one of none, skip_connect, \
         nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"
    )]
    UnknownNb201Operation {
        /// The name that was given.
        name: String,
    },
}

/// The most channels (`C`) a network of this crate may have: 65,536, far beyond any
/// published cell network, and low enough that no layer's weight count can overflow.
pub const MAX_CHANNELS: usize = 1 << 16;
/// The most cells a network may stack (or, in NAS-Bench-201, hold per stage).
pub const MAX_CELLS: usize = 1 << 12;

/// Refuses sizes no machine could build, before anything is sized by them.
pub(crate) fn check_scale(
    channels: usize,
    cells: usize,
    cells_name: &str,
) -> Result<(), SpaceError> {
    if channels > MAX_CHANNELS {
        return Err(SpaceError::Size(format!(
            "channels ({channels}) must be at most {MAX_CHANNELS}"
        )));
    }
    if cells > MAX_CELLS {
        return Err(SpaceError::Size(format!(
            "{cells_name} ({cells}) must be at most {MAX_CELLS}"
        )));
    }
    Ok(())
}
