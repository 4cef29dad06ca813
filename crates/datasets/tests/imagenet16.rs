//! ImageNet16-120: numpy pickles of every protocol, label filtering, the valid/test split,
//! batches and every malformed input.

mod common;

use std::path::{Path, PathBuf};

use common::pickle::{numpy_protocol3, python2_protocol2};
use common::{Cpu, cpu, pixels, says, targets, temp, write};
use datasets::{
    DataError, IMAGENET16_TRAIN_FILES, IMAGENET16_VAL_FILE, ImageDataset, ImageNet16,
    ImageNet16Split, Mode,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const ROW: usize = 768;
const PITFALL_LABELS: [i64; 5] = [1, 120, 121, 1000, 60];

/// A pickle fixture written by numpy (see `fixtures/imagenet16/make_fixtures.py`).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/imagenet16")
        .join(name)
}

/// Byte k of row i is (k + 5 i) mod 251.
fn pitfalls_data() -> Vec<u8> {
    (0..5)
        .flat_map(|i| (0..ROW).map(move |k| ((k + 5 * i) % 251) as u8))
        .collect()
}

/// Byte (c, h, w) of a planar 16x16 row.
fn at(c: usize, h: usize, w: usize) -> usize {
    c * 256 + h * 16 + w
}

fn load(path: PathBuf) -> ImageNet16 {
    ImageNet16::from_files(&[path], 120).expect("load")
}

fn check_pitfalls(data: &ImageNet16) {
    assert_eq!(data.len(), 3, "rows 0, 1 and 4 are kept");
    assert_eq!(data.labels(), &[0, 119, 59]);
    let item0 = data.image(0).expect("item 0");
    assert_eq!(item0[at(1, 0, 0)], 5);
    assert_eq!(item0[at(0, 1, 0)], 16);
    assert_eq!(item0[at(0, 0, 1)], 1);
    let want = pitfalls_data();
    assert_eq!(data.image(1), Some(&want[ROW..2 * ROW]), "item 1 is row 1");
    assert_eq!(
        data.image(2),
        Some(&want[4 * ROW..5 * ROW]),
        "item 2 is row 4"
    );
}

#[test]
fn pitfalls_case_for_every_pickle_protocol() {
    for name in [
        "pitfalls_proto2.pkl",
        "pitfalls_proto3.pkl",
        "pitfalls_proto4.pkl",
        "pitfalls_proto5.pkl",
        "pitfalls_mean_proto3.pkl",
        "pitfalls_fortran.pkl",
    ] {
        let data = load(fixture(name));
        check_pitfalls(&data);
    }
}

#[test]
fn test_writer_matches_numpy_byte_for_byte() {
    let numpy = std::fs::read(fixture("pitfalls_proto3.pkl")).expect("fixture");
    assert_eq!(
        numpy_protocol3(&pitfalls_data(), 5, ROW, &PITFALL_LABELS),
        numpy
    );
}

#[test]
fn python2_pickles_read_the_same() {
    let dir = temp();
    let bytes = python2_protocol2(&pitfalls_data(), 5, ROW, &PITFALL_LABELS);
    check_pitfalls(&load(write(dir.path(), "py2", &bytes)));
}

#[test]
fn pitfalls_batch_is_planar_and_scaled() {
    let data = load(fixture("pitfalls_proto3.pkl"));
    let mut rng = StdRng::seed_from_u64(0);
    let batch = data
        .batch::<Cpu>(&[0, 1, 2], Mode::Eval, &mut rng, &cpu())
        .expect("batch");
    assert_eq!(batch.images.dims(), [3, 3, 16, 16]);
    assert_eq!(targets(&batch), vec![0, 119, 59]);
    let x = pixels(&batch);
    assert_eq!(x[at(1, 0, 0)], 5.0 / 255.0);
    assert_eq!(x[at(0, 1, 0)], 16.0 / 255.0);
    assert_eq!(x[at(0, 0, 1)], 1.0 / 255.0);
    assert_eq!(x[2 * ROW], 20.0 / 255.0, "item 2 (row 4) starts at byte 20");
    assert_eq!(data.num_classes(), 120);
}

#[test]
fn training_batches_are_padded_crops_and_flips() {
    let data = load(fixture("pitfalls_proto3.pkl"));
    let eval = pixels(
        &data
            .batch::<Cpu>(&[0], Mode::Eval, &mut StdRng::seed_from_u64(0), &cpu())
            .expect("eval"),
    );
    for seed in 0..20 {
        let mut rng = StdRng::seed_from_u64(seed);
        let train = data
            .batch::<Cpu>(&[0], Mode::Train, &mut rng, &cpu())
            .expect("train");
        let got = pixels(&train);
        let again = data
            .batch::<Cpu>(&[0], Mode::Train, &mut StdRng::seed_from_u64(seed), &cpu())
            .expect("again");
        assert_eq!(got, pixels(&again), "same seed, same batch");
        let matches = placements(2)
            .filter(|&(dy, dx, flip)| shifted(&eval, 16, dy, dx, flip) == got)
            .count();
        assert!(
            matches >= 1,
            "seed {seed}: not a padding-2 crop/flip of the image"
        );
    }
}

/// Every (dy, dx, flip) with shifts in `-pad..=pad`.
pub fn placements(pad: i64) -> impl Iterator<Item = (i64, i64, bool)> {
    (-pad..=pad)
        .flat_map(move |dy| (-pad..=pad).flat_map(move |dx| [false, true].map(|f| (dy, dx, f))))
}

/// The reference crop/flip of one CHW image: out(y, x) = src(y + dy, x' + dx), 0 outside.
pub fn shifted(src: &[f32], size: usize, dy: i64, dx: i64, flip: bool) -> Vec<f32> {
    let mut out = vec![0.0; src.len()];
    let n = size as i64;
    for c in 0..3 {
        for y in 0..size {
            for x in 0..size {
                let xs = if flip { size - 1 - x } else { x };
                let (sy, sx) = (y as i64 + dy, xs as i64 + dx);
                if (0..n).contains(&sy) && (0..n).contains(&sx) {
                    let s = c * size * size + sy as usize * size + sx as usize;
                    out[c * size * size + y * size + x] = src[s];
                }
            }
        }
    }
    out
}

/// Writes a full-layout folder: 10 small training batches and a `val_data` with 50 images
/// of each of the 120 kept classes plus 600 of other classes, interleaved.
fn write_layout(dir: &Path) -> usize {
    let mut train_kept = 0;
    for (b, name) in IMAGENET16_TRAIN_FILES.iter().enumerate() {
        let labels: Vec<i64> = (0..30).map(|i| 1 + ((i * 37 + b as i64) % 200)).collect();
        train_kept += labels.iter().filter(|&&l| l <= 120).count();
        let data: Vec<u8> = (0..labels.len() * ROW).map(|k| (k % 256) as u8).collect();
        write(
            dir,
            name,
            &numpy_protocol3(&data, labels.len(), ROW, &labels),
        );
    }
    let labels: Vec<i64> = (0..6600).map(|i| 1 + (i * 7 % 132)).collect();
    let data: Vec<u8> = (0..labels.len())
        .flat_map(|i| std::iter::repeat_n((i % 256) as u8, ROW))
        .collect();
    write(
        dir,
        IMAGENET16_VAL_FILE,
        &numpy_protocol3(&data, labels.len(), ROW, &labels),
    );
    train_kept
}

#[test]
fn valid_and_test_halves_are_fixed_disjoint_and_balanced() {
    let dir = temp();
    let train_kept = write_layout(dir.path());
    let train = ImageNet16::load(dir.path(), ImageNet16Split::Train).expect("train");
    assert_eq!(train.len(), train_kept);
    let val = ImageNet16::load(dir.path(), ImageNet16Split::Val).expect("val");
    assert_eq!(val.len(), 6000);
    let valid = ImageNet16::load(dir.path(), ImageNet16Split::Valid).expect("valid");
    let test = ImageNet16::load(dir.path(), ImageNet16Split::Test).expect("test");
    assert_eq!((valid.len(), test.len()), (3000, 3000));
    for half in [&valid, &test] {
        let mut counts = vec![0; 120];
        half.labels().iter().for_each(|&l| counts[l] += 1);
        assert_eq!(counts, vec![25; 120]);
    }
    let (a, b) = val.valid_test_split();
    assert!(a.iter().all(|i| !b.contains(i)));
    assert_eq!(a.len() + b.len(), 6000);
    assert_eq!(valid.image(0), val.image(a[0]));
    assert_eq!(test.image(0), val.image(b[0]));
    assert_eq!(val.valid_test_split(), (a, b), "the split is fixed");
}

#[test]
fn index_past_the_end_is_an_error() {
    let data = load(fixture("pitfalls_proto3.pkl"));
    let err = data
        .batch::<Cpu>(&[0, 3], Mode::Eval, &mut StdRng::seed_from_u64(0), &cpu())
        .expect_err("must fail");
    assert!(
        matches!(err, DataError::IndexOutOfRange { index: 3, len: 3 }),
        "{err:?}"
    );
}

fn load_err(path: PathBuf) -> (DataError, String) {
    let err = ImageNet16::from_files(std::slice::from_ref(&path), 120).expect_err("must fail");
    let msg = err.to_string();
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(msg.contains(&name), "{msg} does not name {name}");
    (err, msg)
}

#[test]
fn missing_folder_and_file_given_as_folder_are_reported() {
    let dir = temp();
    let gone = dir.path().join("imagenet16");
    let err = ImageNet16::load(&gone, ImageNet16Split::Train).expect_err("must fail");
    assert!(
        matches!(&err, DataError::Missing { path, .. } if *path == gone),
        "{err:?}"
    );
    says(&err, &["imagenet16 does not exist"]);
    let file = write(dir.path(), "file", b"x");
    let err = ImageNet16::load(&file, ImageNet16Split::Val).expect_err("must fail");
    assert!(matches!(err, DataError::NotAFolder { .. }), "{err:?}");
    says(&err, &["file is not a folder"]);
}

/// A file no one can open (a link to itself): named, with the system's reason.
#[cfg(unix)]
#[test]
fn unreadable_file_is_reported_with_the_reason() {
    let dir = temp();
    let link = common::self_link(dir.path(), IMAGENET16_VAL_FILE);
    let err = ImageNet16::load(dir.path(), ImageNet16Split::Valid).expect_err("must fail");
    assert!(
        matches!(&err, DataError::Io { path, .. } if *path == link),
        "{err:?}"
    );
    says(
        &err,
        &["cannot read", IMAGENET16_VAL_FILE, "symbolic links"],
    );
}

#[test]
fn missing_training_batch_is_named() {
    let dir = temp();
    write_layout(dir.path());
    std::fs::remove_file(dir.path().join("train_data_batch_7")).expect("remove");
    let err = ImageNet16::load(dir.path(), ImageNet16Split::Train).expect_err("must fail");
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("train_data_batch_7"), "{err}");
}

#[test]
fn folder_where_val_data_belongs_is_reported() {
    let dir = temp();
    std::fs::create_dir(dir.path().join(IMAGENET16_VAL_FILE)).expect("mkdir");
    let err = ImageNet16::load(dir.path(), ImageNet16Split::Valid).expect_err("must fail");
    assert!(matches!(err, DataError::NotAFile { .. }), "{err:?}");
    says(
        &err,
        &[&format!("{IMAGENET16_VAL_FILE} is not a regular file")],
    );
}

#[test]
fn empty_file_is_reported() {
    let dir = temp();
    let (err, _) = load_err(write(dir.path(), "val_data", b""));
    assert!(matches!(err, DataError::EmptyFile { .. }), "{err:?}");
    says(&err, &["val_data is empty (0 bytes)", "pickle"]);
}

#[test]
fn a_file_that_is_not_a_pickle_is_reported() {
    let dir = temp();
    let (err, msg) = load_err(write(dir.path(), "val_data", b"PK\x03\x04 a zip file"));
    assert!(matches!(err, DataError::Pickle { .. }), "{err:?}");
    assert!(msg.contains("not a readable Python pickle"), "{msg}");
    let truncated = &std::fs::read(fixture("pitfalls_proto3.pkl")).expect("fixture")[..100];
    let (err, msg) = load_err(write(dir.path(), "train_data_batch_1", truncated));
    assert!(matches!(err, DataError::Pickle { .. }), "{err:?}");
    assert!(msg.contains("not a readable Python pickle"), "{msg}");
}

#[test]
fn a_pickle_that_is_not_a_dict_is_reported() {
    let (err, msg) = load_err(fixture("not_a_dict.pkl"));
    assert!(matches!(err, DataError::BadEntry { .. }), "{err:?}");
    assert!(msg.contains("not a dict"), "{msg}");
}

#[test]
fn missing_keys_are_named() {
    for (name, key) in [("no_data.pkl", "data"), ("no_labels.pkl", "labels")] {
        let (err, msg) = load_err(fixture(name));
        assert!(
            matches!(err, DataError::MissingKey { key: k, .. } if k == key),
            "{err:?}"
        );
        assert!(msg.contains(&format!("`{key}`")), "{msg}");
    }
}

#[test]
fn data_of_the_wrong_type_or_shape_is_reported() {
    for (name, part) in [
        ("data_float64.pkl", "not a uint8 array"),
        ("data_flat.pkl", "shape [3840]"),
        ("data_700_columns.pkl", "[5, 700]"),
        ("data_list.pkl", "a list of 1 items"),
    ] {
        let (err, msg) = load_err(fixture(name));
        assert!(
            matches!(err, DataError::BadEntry { key: "data", .. }),
            "{name}: {err:?}"
        );
        assert!(msg.contains(part), "{name}: {msg}");
    }
}

#[test]
fn labels_of_the_wrong_type_length_or_range_are_reported() {
    let (err, msg) = load_err(fixture("labels_not_list.pkl"));
    assert!(
        matches!(err, DataError::BadEntry { key: "labels", .. }),
        "{err:?}"
    );
    assert!(msg.contains("list of ints"), "{msg}");
    let (err, msg) = load_err(fixture("labels_short.pkl"));
    assert!(
        matches!(
            err,
            DataError::LengthMismatch {
                rows: 5,
                labels: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("5 image rows") && msg.contains("4 entries"),
        "{msg}"
    );
    let (err, msg) = load_err(fixture("labels_zero.pkl"));
    assert!(
        matches!(
            err,
            DataError::InvalidLabel {
                record: 1,
                label: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("1..=1000"), "{msg}");
    // The same file with label 1001 (BININT2) in place of the 0.
    let bytes = std::fs::read(fixture("labels_zero.pkl")).expect("fixture");
    let at = bytes
        .windows(6)
        .position(|w| w == b"K\x01K\x00K\x03")
        .expect("the labels list");
    let mut patched = bytes[..at + 2].to_vec();
    patched.extend_from_slice(b"M\xe9\x03");
    patched.extend_from_slice(&bytes[at + 4..]);
    let dir = temp();
    let (err, msg) = load_err(write(dir.path(), "labels_1001.pkl", &patched));
    assert!(
        matches!(
            err,
            DataError::InvalidLabel {
                record: 1,
                label: 1001,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("label 1001") && msg.contains("1..=1000"),
        "{msg}"
    );
}
