//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when attacking or evaluating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RobustnessError {
    /// A parameter is out of its range (a negative ε, zero steps, a zero batch size, ...).
    #[error("{context}: {parameter} = {value} is invalid, expected {expected}")]
    InvalidParameter {
        /// The attack or function the parameter belongs to, such as `"PGD"`.
        context: &'static str,
        /// The parameter's name, such as `"epsilon"`.
        parameter: &'static str,
        /// The value given.
        value: f64,
        /// What was expected, such as `"a finite value >= 0"`.
        expected: &'static str,
    },
    /// No images were given.
    #[error("no images to attack or evaluate")]
    EmptyInput,
    /// The number of labels differs from the number of images.
    #[error("{images} images but {labels} labels")]
    LabelCount {
        /// Images in the batch.
        images: usize,
        /// Labels given.
        labels: usize,
    },
    /// A label is negative or not below the number of classes.
    #[error("label {label} is outside 0..{classes}")]
    LabelOutOfRange {
        /// The offending label.
        label: i64,
        /// Classes the model predicts.
        classes: usize,
    },
    /// The images are not in pixel space `[0, 1]` (normalised images passed by mistake?).
    #[error("images must lie in [0, 1], found values in [{min}, {max}]")]
    PixelRange {
        /// The smallest value found.
        min: f32,
        /// The largest value found.
        max: f32,
    },
    /// The classifier returned logits of the wrong shape.
    #[error("{images} images gave logits of shape {logits:?}, expected [{images}, classes >= 2]")]
    LogitsShape {
        /// Images given to the classifier.
        images: usize,
        /// The shape of the logits it returned.
        logits: [usize; 2],
    },
    /// A gradient-based attack found no gradient for the input: the classifier cut the graph.
    #[error("{attack}: the classifier's output does not depend differentiably on its input")]
    NoInputGradient {
        /// The attack that needed the gradient.
        attack: &'static str,
    },
    /// Nothing to sweep: no attack or no ε.
    #[error("a sweep needs at least one attack and one epsilon")]
    EmptySweep,
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, RobustnessError>;

/// Checks that `value` is finite and `>= 0`.
pub(crate) fn non_negative(context: &'static str, name: &'static str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(RobustnessError::InvalidParameter {
            context,
            parameter: name,
            value: f64::from(value),
            expected: "a finite value >= 0",
        })
    }
}

/// Checks that a count is at least 1.
pub(crate) fn positive(context: &'static str, name: &'static str, value: usize) -> Result<()> {
    if value >= 1 {
        Ok(())
    } else {
        Err(RobustnessError::InvalidParameter {
            context,
            parameter: name,
            value: 0.0,
            expected: "at least 1",
        })
    }
}
