//! The crate's tests, built as one binary.

mod common;

/// Square and OnePixel: forward passes only, bounds, success on easy models.
mod black_box;
/// Accuracy, robust and transfer accuracy: counting every image once.
mod eval;
/// FGSM against a hand-computed linear model.
mod fgsm;
/// PGD and TPGD: bounds, loss increase, determinism.
mod iterative;
/// Sweeps over ε: rows, CSV and SVG.
mod sweep;
