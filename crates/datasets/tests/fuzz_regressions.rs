//! Inputs the fuzz targets (`fuzz/`) found to crash a parser, kept as regression tests:
//! each must now give a clear error.

use std::path::{Path, PathBuf};

use datasets::DataError;

fn fixture(name: &str) -> (PathBuf, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(name);
    let bytes = std::fs::read(&path).expect("fixture");
    (path, bytes)
}

/// A frozenset of floats with a NaN among them: the pickle decoder sorted it with an
/// order that is not total, and the sort panicked.
#[test]
fn a_pickled_set_holding_nan_is_refused_not_a_panic() {
    let (path, bytes) = fixture("pickle_set_with_nan");
    let err = datasets::decode::imagenet16_batch(&bytes, &path).expect_err("refused");
    assert!(matches!(err, DataError::Pickle { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("pickle_set_with_nan"), "{text}");
    assert!(
        text.contains("a set, which a batch never holds, at byte"),
        "{text}"
    );
}
