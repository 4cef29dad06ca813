//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod pickle;

use std::path::{Path, PathBuf};

use datasets::{IMAGE_SIZE, ImageBatch, PLANE_BYTES, RECORD_BYTES};

/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(not(feature = "test-ndarray"))]
pub type Cpu = burn::backend::Flex;
/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(feature = "test-ndarray")]
pub type Cpu = burn::backend::NdArray;

/// The default device of [`Cpu`].
pub fn cpu() -> burn::tensor::Device<Cpu> {
    Default::default()
}

/// The images of a batch as a flat NCHW vector.
pub fn pixels(batch: &ImageBatch<Cpu>) -> Vec<f32> {
    batch.images.to_data().to_vec::<f32>().expect("f32 data")
}

/// The targets of a batch.
pub fn targets(batch: &ImageBatch<Cpu>) -> Vec<i64> {
    let data = batch.targets.to_data().convert::<i64>();
    data.to_vec::<i64>().expect("int data")
}

/// A fresh temporary folder.
pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// One record whose pixel (c, y, x) is `f(c, y, x)`.
pub fn record(label: u8, f: impl Fn(usize, usize, usize) -> u8) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(RECORD_BYTES);
    bytes.push(label);
    for c in 0..3 {
        for y in 0..IMAGE_SIZE {
            for x in 0..IMAGE_SIZE {
                bytes.push(f(c, y, x));
            }
        }
    }
    bytes
}

/// The PITFALLS record: label 7, R[h][w] = h, G[h][w] = w, B = 255.
pub fn pitfalls_record() -> Vec<u8> {
    record(7, |c, y, x| match c {
        0 => y as u8,
        1 => x as u8,
        _ => 255,
    })
}

/// An image whose bytes are all different-ish: pixel = (c * 97 + y * 31 + x * 7) mod 256.
pub fn busy_image() -> Vec<u8> {
    record(0, |c, y, x| ((c * 97 + y * 31 + x * 7) % 256) as u8)[1..].to_vec()
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// The sample committed in the repository.
pub fn repo_mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/cifar10-mini")
}

/// The shared data folder (full CIFAR-10), when this machine has one.
pub fn shared_datasets() -> Option<PathBuf> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    [beside, PathBuf::from("/work/shared/datasets")]
        .into_iter()
        .find(|p| p.join("cifar-10-batches-bin/test_batch.bin").is_file())
}

/// Byte index of (c, y, x) inside an image.
pub fn at(c: usize, y: usize, x: usize) -> usize {
    c * PLANE_BYTES + y * IMAGE_SIZE + x
}

/// Asserts that `err`'s message holds every one of `parts`.
pub fn says(err: &impl std::fmt::Display, parts: &[&str]) {
    let msg = err.to_string();
    for part in parts {
        assert!(msg.contains(part), "{msg:?} lacks {part:?}");
    }
}

/// A path that no one can open: a symbolic link to itself (permissions cannot stand in,
/// the tests may run as root).
#[cfg(unix)]
pub fn self_link(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    std::os::unix::fs::symlink(&link, &link).expect("symlink");
    link
}
