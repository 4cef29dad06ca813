//! Reading CIFAR-10 binary batches and class-name files from disk.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cifar::{CifarItem, Split};
use crate::error::{DataError, Result};
use crate::format::{NUM_CLASSES, RECORD_BYTES};

/// Name of the optional class-name file.
pub(crate) const META_FILE: &str = "batches.meta.txt";
const OFFICIAL_TRAIN: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const OFFICIAL_TEST: &str = "test_batch.bin";
const SAMPLE_TRAIN: &str = "train.bin";
const SAMPLE_TEST: &str = "test.bin";
const EITHER_LAYOUT: &str = "data_batch_1.bin … data_batch_5.bin and test_batch.bin \
                             (official layout) or train.bin and test.bin (sample layout)";

/// Fails unless `dir` is an existing folder.
pub(crate) fn check_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(DataError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::Missing {
            path: dir.to_path_buf(),
            expected: format!("a folder holding {EITHER_LAYOUT}"),
        }),
        Err(source) => Err(DataError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Whether an entry named `path` exists, even one that cannot be followed (a broken or
/// looping link): such an entry is then reported when read, not passed over.
pub(crate) fn present(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// The batch files of `split` in `dir`, after choosing the layout.
pub(crate) fn split_files(dir: &Path, split: Split) -> Result<Vec<PathBuf>> {
    let official = OFFICIAL_TRAIN.iter().chain([&OFFICIAL_TEST]);
    let names: Vec<&str> = if official.clone().any(|n| present(&dir.join(n))) {
        match split {
            Split::Train => OFFICIAL_TRAIN.to_vec(),
            Split::Test => vec![OFFICIAL_TEST],
        }
    } else if [SAMPLE_TRAIN, SAMPLE_TEST]
        .iter()
        .any(|n| present(&dir.join(n)))
    {
        match split {
            Split::Train => vec![SAMPLE_TRAIN],
            Split::Test => vec![SAMPLE_TEST],
        }
    } else {
        return Err(DataError::Missing {
            path: dir.to_path_buf(),
            expected: EITHER_LAYOUT.into(),
        });
    };
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Fails unless `path` is an existing regular file.
pub(crate) fn check_file(path: &Path, expected: &str) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(DataError::NotAFile {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::Missing {
            path: path.to_path_buf(),
            expected: expected.into(),
        }),
        Err(source) => Err(DataError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads every record of one CIFAR-10 batch file.
pub(crate) fn read_records(path: &Path) -> Result<Vec<CifarItem>> {
    check_file(path, "a CIFAR-10 binary batch file (3073-byte records)")?;
    let bytes = fs::read(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    parse_records(path, &bytes)
}

/// Splits `bytes` into records, checking the size and every label.
pub(crate) fn parse_records(path: &Path, bytes: &[u8]) -> Result<Vec<CifarItem>> {
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        let (len, record) = (bytes.len(), RECORD_BYTES);
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            len,
            record,
        });
    }
    bytes
        .chunks_exact(RECORD_BYTES)
        .enumerate()
        .map(|(i, r)| parse_one(path, i, r))
        .collect()
}

fn parse_one(path: &Path, record: usize, bytes: &[u8]) -> Result<CifarItem> {
    let (&label, image) = bytes
        .split_first()
        .ok_or(DataError::Empty { path: path.into() })?;
    if usize::from(label) >= NUM_CLASSES {
        let classes = NUM_CLASSES;
        return Err(DataError::LabelOutOfRange {
            path: path.into(),
            record,
            label,
            classes,
        });
    }
    Ok(CifarItem {
        image: image.to_vec(),
        label: usize::from(label),
    })
}

/// Reads a class-name file: one name per line, empty lines skipped, exactly 10 names.
pub fn read_class_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
    read_names(path.as_ref(), NUM_CLASSES)
}

/// Reads a class-name file: one name per line, empty lines skipped, exactly `expected` names.
pub(crate) fn read_names(path: &Path, expected: usize) -> Result<Vec<String>> {
    check_file(path, "a class-name file with one name per line")?;
    let text = fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != expected {
        let found = names.len();
        return Err(DataError::ClassNames {
            path: path.to_path_buf(),
            found,
            expected,
        });
    }
    Ok(names)
}

/// Fails unless `dir` is an existing folder; `expected` says what it should hold.
pub(crate) fn check_folder(dir: &Path, expected: &str) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(DataError::NotAFolder {
            path: dir.to_path_buf(),
            expected: expected.into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::Missing {
            path: dir.to_path_buf(),
            expected: expected.into(),
        }),
        Err(source) => Err(DataError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Reads a whole regular, non-empty file; `expected` says what it should hold.
pub(crate) fn read_nonempty(path: &Path, expected: &str) -> Result<Vec<u8>> {
    check_file(path, expected)?;
    let bytes = fs::read(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    if bytes.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.into(),
            expected: expected.into(),
        });
    }
    Ok(bytes)
}
