//! Errors raised while reading data sets (CIFAR, ImageNet16-120, image folders).

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

/// Everything that can go wrong while reading data sets.
///
/// Every variant that concerns a file carries its `path`, and every message names the file
/// and the defect, so that a caller can print the error as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The operating system refused to read or inspect a file or folder.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file or folder that should exist does not.
    #[error("{} does not exist; expected {expected}", .path.display())]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// What was expected there.
        expected: String,
    },
    /// A path that should be a regular file is a folder or something else.
    #[error("{} is not a regular file (a folder?); expected a file", .path.display())]
    NotAFile {
        /// The offending path.
        path: PathBuf,
    },
    /// A path that should be a folder is not one.
    #[error("{} is not a folder; expected a folder of CIFAR-10 batches", .path.display())]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },
    /// A batch file holds no bytes at all.
    #[error("{} is empty (0 bytes); expected 3073-byte CIFAR-10 records", .path.display())]
    Empty {
        /// The empty file.
        path: PathBuf,
    },
    /// A batch file's size is not a whole number of records: its last record is truncated.
    #[error(
        "{} has {len} bytes, not a multiple of the {record}-byte record size: it holds {} \
         whole records and its last record is truncated ({} of {record} bytes)",
        .path.display(), .len / .record, .len % .record
    )]
    BadSize {
        /// The offending file.
        path: PathBuf,
        /// Its size in bytes.
        len: usize,
        /// The record size in bytes (3073 for CIFAR-10).
        record: usize,
    },
    /// A record's label byte is not a valid class index.
    #[error(
        "{} record {record}: label {label} is out of range (expected 0..={})",
        .path.display(), .classes.saturating_sub(1)
    )]
    LabelOutOfRange {
        /// The offending file.
        path: PathBuf,
        /// Zero-based index of the record inside the file.
        record: usize,
        /// The label byte that was read.
        label: u8,
        /// The number of classes.
        classes: usize,
    },
    /// A class-name file lists the wrong number of names.
    #[error(
        "{} lists {found} class names (non-empty lines); expected {expected}",
        .path.display()
    )]
    ClassNames {
        /// The class-name file.
        path: PathBuf,
        /// How many non-empty lines it has.
        found: usize,
        /// How many it should have.
        expected: usize,
    },
    /// No batch file was given.
    #[error("no CIFAR-10 batch file was given")]
    NoFiles,
    /// An in-memory item is malformed (see [`crate::Cifar10::from_items`]).
    #[error("item {index} is invalid: {reason}")]
    InvalidItem {
        /// Index of the item in the given list.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An index passed to [`crate::Cifar10::select`] is past the end of the dataset.
    #[error("index {index} is out of range for a dataset of {len} items")]
    IndexOutOfRange {
        /// The offending index.
        index: usize,
        /// The dataset's length.
        len: usize,
    },
    /// A file holds no bytes at all (formats other than CIFAR-10, which uses [`Self::Empty`]).
    #[error("{} is empty (0 bytes); expected {expected}", .path.display())]
    EmptyFile {
        /// The empty file.
        path: PathBuf,
        /// What the file should hold.
        expected: String,
    },
    /// A path that should be a folder is not one (formats other than CIFAR-10).
    #[error("{} is not a folder; expected {expected}", .path.display())]
    NotAFolder {
        /// The offending path.
        path: PathBuf,
        /// What folder was expected.
        expected: String,
    },
    /// One of the two label bytes of a CIFAR-100 record is not a valid class index.
    #[error(
        "{} record {record}: {field} label {label} is out of range (expected 0..={})",
        .path.display(), .classes.saturating_sub(1)
    )]
    Cifar100Label {
        /// The offending file.
        path: PathBuf,
        /// Zero-based index of the record inside the file.
        record: usize,
        /// Which label byte: `"coarse"` (offset 0) or `"fine"` (offset 1).
        field: &'static str,
        /// The label byte that was read.
        label: u8,
        /// The number of classes of that kind (20 or 100).
        classes: usize,
    },
    /// A file is not a pickle that can be decoded at all.
    #[error("{} is not a readable Python pickle: {reason}", .path.display())]
    Pickle {
        /// The offending file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },
    /// A pickled dict lacks a required key.
    #[error(
        "{} holds no `{key}` entry; expected a pickled dict with `data` (N x 768 uint8 array) \
         and `labels` (list of N ints)",
        .path.display()
    )]
    MissingKey {
        /// The offending file.
        path: PathBuf,
        /// The missing key.
        key: &'static str,
    },
    /// A pickled entry has the wrong type or shape.
    #[error("{} entry `{key}`: {reason}", .path.display())]
    BadEntry {
        /// The offending file.
        path: PathBuf,
        /// The entry (`data`, `labels` or the top-level object).
        key: &'static str,
        /// What is wrong, with what was expected.
        reason: String,
    },
    /// The label list and the image array of a pickled batch have different lengths.
    #[error(
        "{} has {rows} image rows in `data` but {labels} entries in `labels`; they must match",
        .path.display()
    )]
    LengthMismatch {
        /// The offending file.
        path: PathBuf,
        /// Number of rows of `data`.
        rows: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label is outside the range the format allows (not one that is merely filtered out).
    #[error("{} record {record}: label {label} is invalid; expected {expected}", .path.display())]
    InvalidLabel {
        /// The offending file.
        path: PathBuf,
        /// Zero-based index of the record inside the file.
        record: usize,
        /// The label that was read.
        label: i64,
        /// The allowed range.
        expected: String,
    },
    /// An image file cannot be decoded.
    #[error("{} is not a readable JPEG or PNG image: {reason}", .path.display())]
    Image {
        /// The offending file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },
    /// An image folder holds no class folders.
    #[error(
        "{} holds no class folders; expected root/<class>/<image>.jpeg|jpg|png",
        .path.display()
    )]
    NoClasses {
        /// The root folder.
        path: PathBuf,
    },
    /// A class folder of an image folder holds no image files.
    #[error("class folder {} holds no .jpeg, .jpg or .png file", .path.display())]
    EmptyClass {
        /// The class folder.
        path: PathBuf,
    },
}
