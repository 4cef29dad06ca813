//! Reading one downsampled-ImageNet batch: a pickled dict holding a numpy `uint8` array.
//!
//! `serde-pickle` runs the pickle; numpy objects are not resolved but, with
//! `replace_unresolved_globals` and `keep_restore_state`, their construction arguments are
//! kept, so a numpy array arrives in one of two forms:
//!
//! * protocols 0 to 4 (`numpy.core.multiarray._reconstruct` followed by `BUILD`): the
//!   `__setstate__` tuple `(version, shape, dtype_state, is_fortran, raw_bytes)`;
//! * protocol 5 (`numpy._core.numeric._frombuffer`): the argument tuple
//!   `(raw_bytes, dtype_state, shape, order)`.
//!
//! `dtype_state` is `(3, byteorder, ...)`; its byte order is `'|'` for one-byte types. The
//! dtype name is not kept, so a `uint8` array is recognised by byte order `'|'` and a
//! buffer of exactly one byte per element (an `int8` array would pass too; numpy never
//! writes one for these files). Python 2 pickles (keys and buffers as byte strings) read
//! the same way.

use std::collections::BTreeMap;
use std::path::Path;

use serde_pickle::{DeOptions, HashableValue, Value};

use crate::error::{DataError, Result};
use crate::{io, pickle_scan};

/// The image rows and labels of one pickled batch, as stored (labels not yet filtered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickledBatch {
    /// `rows * row_bytes` bytes, row-major.
    pub data: Vec<u8>,
    /// One label per row, as stored (1-based for ImageNet).
    pub labels: Vec<i64>,
}

/// Reads a pickled dict with `data` (an `N x row_bytes` numpy `uint8` array) and `labels` (a
/// list of `N` ints). Other keys (such as `mean`) are ignored.
pub(crate) fn read_batch(path: &Path, row_bytes: usize) -> Result<PickledBatch> {
    let expected = "a pickled dict with `data` (N x 768 uint8 numpy array) and `labels`";
    let bytes = io::read_nonempty(path, expected)?;
    parse_batch(&bytes, path, row_bytes)
}

/// Decodes the bytes of a pickled batch; `path` names them in errors.
///
/// A first pass over the opcodes ([`crate::pickle_scan`]) refuses values nested more than
/// a few dozen levels deep or that would expand past twice the file's size plus 1 MiB, so
/// that the decoder never recurses or allocates without bound.
pub(crate) fn parse_batch(bytes: &[u8], path: &Path, row_bytes: usize) -> Result<PickledBatch> {
    let budget = (bytes.len() as u64)
        .saturating_mul(2)
        .saturating_add(1 << 20);
    pickle_scan::check(bytes, budget).map_err(|reason| DataError::Pickle {
        path: path.to_path_buf(),
        reason,
    })?;
    let options = DeOptions::new()
        .replace_unresolved_globals()
        .keep_restore_state();
    let pickle_error = |reason: String| DataError::Pickle {
        path: path.to_path_buf(),
        reason,
    };
    // The first pass refuses what is known to make the decoder panic; should another
    // input do so, it is still an error about this file.
    let decoded = std::panic::catch_unwind(|| serde_pickle::value_from_slice(bytes, options))
        .map_err(|_| pickle_error("the pickle decoder failed on it".into()))?;
    let value = decoded.map_err(|e| pickle_error(e.to_string()))?;
    let Value::Dict(dict) = value else {
        return Err(bad(path, "top level", "the pickle is not a dict".into()));
    };

    let data = array(path, get(path, &dict, "data")?, row_bytes)?;
    let labels = labels(path, get(path, &dict, "labels")?)?;
    let rows = data.len() / row_bytes.max(1);
    if labels.len() != rows {
        return Err(DataError::LengthMismatch {
            path: path.to_path_buf(),
            rows,
            labels: labels.len(),
        });
    }
    Ok(PickledBatch { data, labels })
}

fn bad(path: &Path, key: &'static str, reason: String) -> DataError {
    DataError::BadEntry {
        path: path.to_path_buf(),
        key,
        reason,
    }
}

/// The entry `key`, whether the key was pickled as a text string (Python 3) or a byte string
/// (Python 2).
fn get<'a>(
    path: &Path,
    dict: &'a BTreeMap<HashableValue, Value>,
    key: &'static str,
) -> Result<&'a Value> {
    dict.get(&HashableValue::String(key.into()))
        .or_else(|| dict.get(&HashableValue::Bytes(key.as_bytes().to_vec())))
        .ok_or_else(|| DataError::MissingKey {
            path: path.to_path_buf(),
            key,
        })
}

/// The bytes of a C-ordered `[N, row_bytes]` `uint8` array (a Fortran-ordered one is
/// transposed).
fn array(path: &Path, value: &Value, row_bytes: usize) -> Result<Vec<u8>> {
    let not_array = || {
        let reason = format!(
            "expected a numpy uint8 array of shape (N, {row_bytes}), found {}",
            describe(value)
        );
        bad(path, "data", reason)
    };
    let (raw, dtype, shape, fortran) = match value {
        Value::Tuple(t) if t.len() == 5 => {
            let fortran = matches!(t[3], Value::Bool(true));
            (&t[4], &t[2], &t[1], fortran)
        }
        Value::Tuple(t) if t.len() == 4 => {
            let fortran = matches!(&t[3], Value::String(s) if s == "F");
            (&t[0], &t[1], &t[2], fortran)
        }
        _ => return Err(not_array()),
    };
    let raw = match raw {
        Value::Bytes(b) => b,
        Value::String(s) => s.as_bytes(),
        _ => return Err(not_array()),
    };
    let shape = dims(shape).ok_or_else(not_array)?;
    check_dtype(path, dtype, raw.len(), &shape)?;
    let [rows, cols] = shape[..] else {
        let reason = format!("has shape {shape:?}; expected (N, {row_bytes})");
        return Err(bad(path, "data", reason));
    };
    if cols != row_bytes {
        let reason = format!("has shape [{rows}, {cols}]; expected (N, {row_bytes})");
        return Err(bad(path, "data", reason));
    }
    if !fortran {
        return Ok(raw.to_vec());
    }
    let mut out = vec![0u8; raw.len()];
    for (i, &b) in raw.iter().enumerate() {
        out[(i % rows) * cols + i / rows] = b;
    }
    Ok(out)
}

/// Checks that the dtype is a one-byte type and that the buffer holds one byte per element.
fn check_dtype(path: &Path, dtype: &Value, len: usize, shape: &[usize]) -> Result<()> {
    let order = match dtype {
        Value::Tuple(t) if t.len() >= 2 => match &t[1] {
            Value::String(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let elements = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if order == "|" && elements == Some(len) {
        return Ok(());
    }
    let reason = format!(
        "is not a uint8 array: dtype byte order {order:?} (expected \"|\"), {len} bytes for \
         shape {shape:?}"
    );
    Err(bad(path, "data", reason))
}

/// A shape tuple of non-negative ints.
fn dims(value: &Value) -> Option<Vec<usize>> {
    let Value::Tuple(items) = value else {
        return None;
    };
    items
        .iter()
        .map(|v| match v {
            Value::I64(d) => usize::try_from(*d).ok(),
            _ => None,
        })
        .collect()
}

/// A list (or tuple) of ints.
fn labels(path: &Path, value: &Value) -> Result<Vec<i64>> {
    let items = match value {
        Value::List(items) | Value::Tuple(items) => items,
        other => {
            let reason = format!("expected a list of ints, found {}", describe(other));
            return Err(bad(path, "labels", reason));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::I64(label) => Ok(*label),
            other => {
                let reason = format!("item {i} is {}, expected an int", describe(other));
                Err(bad(path, "labels", reason))
            }
        })
        .collect()
}

/// A short description of a value's type, for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::None => "None".into(),
        Value::Bool(_) => "a bool".into(),
        Value::I64(_) | Value::Int(_) => "an int".into(),
        Value::F64(_) => "a float".into(),
        Value::Bytes(b) => format!("a byte string of {} bytes", b.len()),
        Value::String(_) => "a string".into(),
        Value::List(l) => format!("a list of {} items", l.len()),
        Value::Tuple(t) => format!("a tuple of {} items (not a numpy uint8 array)", t.len()),
        Value::Set(_) | Value::FrozenSet(_) => "a set".into(),
        Value::Dict(_) => "a dict".into(),
    }
}
