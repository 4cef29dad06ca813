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
mod final_net;
pub mod genotype;
mod graph;
pub mod layers;
mod network;
mod norm;
mod operation;

pub use cell::{Cell, CellSpec, MixedOp, Preprocess, SEARCH_EDGES, SearchCell};
pub use count::FeedbackLen;
pub use edge::{EdgeOp, EdgeSpec, Identity, Zero};
pub use final_net::{
    AuxiliaryHead, ImageNetStem, Network, NetworkConfig, NetworkOutput, NetworkStem, StemKind,
};
pub use genotype::{CellGenotype, Genotype, GenotypeEdge, GenotypeError};
pub use graph::join_parameter_graphs;
pub use network::{Stem, Supernet, SupernetConfig, derive_cell};
pub use norm::{BatchNorm2d, BatchNorm2dConfig, NormMode};
pub use operation::{Candidate, CandidateSet, CandidateSetError, Operation, UnknownOperation};
