//! Neural architecture search with mixed bio-inspired learning rules, on Burn.
//!
//! This crate gathers the workspace:
//!
//! - [`bio_rules`]: learning rules (BP, FA, uSF, brSF, frSF, DFA, Hebbian) as custom
//!   backward passes on linear and convolution layers, for every Burn backend, with
//!   alignment diagnostics;
//! - [`search_space`]: DARTS cells whose candidates are (operation, rule) pairs, the search
//!   supernet, genotypes and the final network;
//! - [`nas`]: the search itself (first-order DARTS) and the retraining of a genotype;
//! - [`datasets`]: CIFAR-10/100, ImageNet16-120 and image-folder loading, augmentation
//!   and batching;
//! - [`robustness`]: adversarial attacks (FGSM, PGD, TPGD, Square, OnePixel) in pixel
//!   space, robust and transfer accuracy, sweeps over ε.
//!
//! [`backend`] names the backends the enabled features provide; [`swap`] copies a model
//! from one backend to another and compares what they compute.

pub mod swap;

pub use bio_rules;
pub use datasets;
pub use nas;
pub use robustness;
pub use search_space;

/// Backends compiled in by this crate's features.
pub mod backend {
    pub use burn::backend::Autodiff;

    /// The CPU backend of the default build (`flex`).
    #[cfg(feature = "flex")]
    pub type Cpu = burn::backend::Flex;

    /// The CPU backend when only `ndarray` is enabled.
    #[cfg(all(feature = "ndarray", not(feature = "flex")))]
    pub type Cpu = burn::backend::NdArray;

    /// The backend the examples use: `flex` when enabled, else `ndarray`, else `wgpu`,
    /// else `cuda`.
    #[cfg(feature = "flex")]
    pub type Selected = burn::backend::Flex;

    /// The backend the examples use: `flex` when enabled, else `ndarray`, else `wgpu`,
    /// else `cuda`.
    #[cfg(all(feature = "ndarray", not(feature = "flex")))]
    pub type Selected = burn::backend::NdArray;

    /// The backend the examples use: `flex` when enabled, else `ndarray`, else `wgpu`,
    /// else `cuda`.
    #[cfg(all(feature = "wgpu", not(any(feature = "flex", feature = "ndarray"))))]
    pub type Selected = burn::backend::Wgpu;

    /// The backend the examples use: `flex` when enabled, else `ndarray`, else `wgpu`,
    /// else `cuda`.
    #[cfg(all(
        feature = "cuda",
        not(any(feature = "flex", feature = "ndarray", feature = "wgpu"))
    ))]
    pub type Selected = burn::backend::Cuda;

    /// Burn's `ndarray` backend.
    #[cfg(feature = "ndarray")]
    pub type NdArray = burn::backend::NdArray;

    /// Burn's `wgpu` backend (Vulkan, Metal, DirectX or a software driver).
    #[cfg(feature = "wgpu")]
    pub type Wgpu = burn::backend::Wgpu;

    /// Burn's CUDA backend.
    #[cfg(feature = "cuda")]
    pub type Cuda = burn::backend::Cuda;
}

/// The README's Rust examples, compiled by `cargo test` as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
