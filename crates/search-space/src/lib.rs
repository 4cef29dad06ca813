//! The DARTS search space with a learning rule per operation.
//!
//! A cell has two inputs (the outputs of the two previous cells), four intermediate nodes
//! and fourteen edges; its output concatenates the four nodes. Every edge chooses among
//! [`Candidate`]s, pairs of an [`Operation`] and, for operations with weights, a
//! [`LearningRule`](bio_rules::LearningRule). The rule set is a parameter
//! ([`CandidateSet`]); the paper's is FA, uSF, brSF and frSF.
//!
//! - [`Supernet`]: the search network, each edge a softmax-weighted mixture of every
//!   candidate, with non-affine batch norms and one `α` matrix per cell type.
//! - [`Genotype`]: the discrete cells derived from `α`, as readable JSON.
//! - [`Network`]: the final network built from a genotype, with the CIFAR or ImageNet
//!   stem, an optional auxiliary head, drop-path, and normalisation of pixel-space input.
//!
//! The stem, the cell preprocessing, the stride-2 skips and the classifier form the
//! "skeleton"; its rule is an explicit setting, back-propagation by default as in the
//! paper's released code.
//!
//! The [`nb201`] module holds the NAS-Bench-201 space the same way: a four-node cell
//! repeated in three stages, each of its six edges one of `none`, `skip_connect`,
//! `nor_conv_1x1`, `nor_conv_3x3`, `avg_pool_3x3`, the convolutions paired with rules
//! ([`Nb201Supernet`], [`Nb201Genotype`], [`Nb201Network`]). Its genotypes read and
//! write NAS-Bench-201's architecture strings (`|nor_conv_3x3~0|+|...|`), a rule as a
//! name suffix (`nor_conv_3x3_fr~0`; none means BP), and its derivation keeps on each
//! edge the candidate of largest `α`, `none` included.
//!
//! ```
//! use search_space::{CandidateSet, Genotype, genotype::known};
//! assert_eq!(CandidateSet::paper().len(), 20);
//! let biodarts = known::biodarts();
//! let back = Genotype::from_json(&biodarts.to_json()).expect("valid");
//! assert_eq!(back, biodarts);
//! ```

mod cell;
mod count;
mod darts_text;
pub mod draw;
mod edge;
mod error;
mod final_net;
pub mod genotype;
mod graph;
pub mod layers;
pub mod nb201;
mod network;
mod norm;
mod operation;
mod space;

pub use cell::{Cell, CellSpec, MixedOp, Preprocess, SEARCH_EDGES, SearchCell};
pub use count::FeedbackLen;
pub use edge::{EdgeOp, EdgeSpec, Identity, Zero};
pub use error::{MAX_CELLS, MAX_CHANNELS, SpaceError};
pub use final_net::{
    AuxiliaryHead, ImageNetStem, Network, NetworkConfig, NetworkOutput, NetworkStem, StemKind,
};
pub use genotype::{CellGenotype, Genotype, GenotypeEdge};
pub use graph::join_parameter_graphs;
pub use nb201::{
    Nb201Candidate, Nb201CandidateSet, Nb201Genotype, Nb201Network, Nb201NetworkConfig,
    Nb201Operation, Nb201Supernet, Nb201SupernetConfig,
};
pub use network::{Stem, Supernet, SupernetConfig, derive_cell};
pub use norm::{BatchNorm2d, BatchNorm2dConfig, NormMode};
pub use operation::{Candidate, CandidateSet, Operation};
pub use space::{ArchGenotype, SearchSupernet};
