//! A tiny search on the repository's CIFAR-10 sample.
#![allow(dead_code)] // Each test binary uses a different part.

use datasets::{Cifar10, Split};
use nas::{SearchConfig, SearchData};
use std::path::PathBuf;

/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(not(feature = "test-ndarray"))]
pub type Cpu = burn::backend::Flex;
/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(feature = "test-ndarray")]
pub type Cpu = burn::backend::NdArray;

/// The sample shipped with the repository.
pub fn sample() -> Cifar10 {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/cifar10-mini");
    Cifar10::load(dir, Split::Train).expect("the repository sample loads")
}

/// Two channels, three cells, 48 images in batches of 12: seconds per epoch.
pub fn tiny_config() -> SearchConfig {
    SearchConfig {
        epochs: 1,
        batch_size: 12,
        channels: 2,
        layers: 3,
        train_subset: Some(48),
        ..SearchConfig::paper()
    }
}

/// The tiny configuration's data.
pub fn tiny_data(config: &SearchConfig) -> SearchData {
    SearchData::split(&sample(), config).expect("split")
}

/// Asserts that `config` is refused for `setting` with exactly `reason`.
#[track_caller]
pub fn refused(config: SearchConfig, setting: &str, reason: &str) {
    let err = config.validate().expect_err(setting);
    match &err {
        nas::NasError::Config { setting: s, .. } => assert_eq!(*s, setting, "{err}"),
        other => panic!("expected a Config error for {setting}, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("invalid setting `{setting}`: {reason}")
    );
}
