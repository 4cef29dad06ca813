//! Errors raised while reading CIFAR-10 files.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

/// Everything that can go wrong while reading CIFAR-10 data.
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
}
