//! The NAS-Bench-201 search space with a learning rule per convolution.
//!
//! A cell has four nodes: node 0 is the cell's input, node 3 its output, and node `j`
//! is the sum of the edges from every earlier node, six edges in all, in NAS-Bench-201's
//! order `1 ← 0`, `2 ← 0`, `2 ← 1`, `3 ← 0`, `3 ← 1`, `3 ← 2` ([`edge_ends`]). Each edge
//! carries one of five operations: `none` (zeros), `skip_connect` (identity),
//! `nor_conv_1x1` and `nor_conv_3x3` (ReLU, convolution with padding `k / 2`, batch
//! norm; the convolution has no bias, which the batch norm would cancel) and
//! `avg_pool_3x3` (stride 1, padding 1, padding not counted). The two convolutions are
//! paired with learning rules: for a rule list, the candidates of an edge
//! ([`Nb201CandidateSet`]) are the three weightless operations and every
//! convolution with every rule (11 with the paper's four rules).
//!
//! The network (NAS-Bench-201's "tiny network") is a 3×3 convolution stem with batch
//! norm, three stages of `N` cells at `C`, `2C` and `4C` channels with a
//! [`ResidualBlock`] halving the resolution between stages, then batch norm, ReLU,
//! global average pooling and a linear classifier ([`Nb201Skeleton`]). The same cell
//! repeats everywhere.
//!
//! - [`Nb201Supernet`]: every edge a softmax-weighted mixture of all candidates, one
//!   `α` matrix `[6, candidates]` shared by every cell, non-affine batch norms in the
//!   cells. Its genotype ([`Nb201Supernet::genotype`]) takes on each edge the candidate
//!   of largest `α`, `none` included, as NAS-Bench-201's DARTS code does; so, unlike a
//!   DARTS genotype, an NB201 genotype may drop edges.
//! - [`Nb201Genotype`]: one candidate per edge, as JSON or as NAS-Bench-201's
//!   architecture string.
//! - [`Nb201Network`]: the final network of a genotype, with affine batch norms.
//!
//! # Architecture strings
//! NAS-Bench-201 writes a cell node by node, `+` between nodes, each incoming edge as
//! `|operation~input|`:
//!
//! ```text
//! |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|
//! ```
//!
//! A convolution's rule is a suffix of its name, as in DARTS' text form: `_bp`, `_fa`,
//! `_u` (uSF), `_br` (brSF), `_fr` (frSF), `_dfa`, `_hebb`, e.g. `nor_conv_3x3_fr~0`.
//! Without a suffix a convolution learns by BP, so NAS-Bench-201's own strings read as
//! BP networks, and BP is written without one: parsing a written genotype gives it back,
//! and writing a parsed NAS-Bench-201 string gives the same string. The inputs of a node
//! must be listed in order (`~0`, `~1`, ...), as NAS-Bench-201 always writes them.
//!
//! ```
//! use search_space::Nb201Genotype;
//! let text = "|nor_conv_3x3_fa~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|\
//!             skip_connect~2|";
//! let genotype: Nb201Genotype = text.parse().expect("valid");
//! assert_eq!(genotype.to_string(), text);
//! assert_eq!(Nb201Genotype::from_json(&genotype.to_json()).expect("valid"), genotype);
//! ```

mod arch_string;
mod cell;
mod count;
mod draw;
mod genotype;
mod layers;
mod network;
mod operation;
mod supernet;

pub use cell::{Nb201Cell, Nb201MixedOp, Nb201SearchCell};
pub use genotype::Nb201Genotype;
pub use layers::{Nb201EdgeOp, Nb201Skeleton, ResidualBlock};
pub use network::{Nb201Network, Nb201NetworkConfig};
pub use operation::{Nb201Candidate, Nb201CandidateSet, Nb201Operation};
pub use supernet::{Nb201Supernet, Nb201SupernetConfig};

/// Nodes of a cell, the input (node 0) and the output (the last) included.
pub const NODES: usize = 4;
/// Edges of a cell: one from every node to every later one.
pub const EDGES: usize = NODES * (NODES - 1) / 2;
/// Stages of the network; stage `s` runs at `2^s · C` channels.
pub const STAGES: usize = 3;

/// The `(from, to)` nodes of edge `edge` (in `0..6`) in NAS-Bench-201's order: grouped by
/// target node, sources ascending.
///
/// ```
/// use search_space::nb201::edge_ends;
/// let ends: Vec<_> = (0..6).map(edge_ends).collect();
/// assert_eq!(ends, [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]);
/// ```
pub fn edge_ends(edge: usize) -> (usize, usize) {
    let mut to = 1;
    let mut first = 0;
    while edge >= first + to {
        first += to;
        to += 1;
    }
    (edge - first, to)
}
