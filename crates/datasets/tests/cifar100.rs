//! CIFAR-100: the two-label record layout, fine and coarse targets, name files, the shared
//! subset and every malformed input.

mod common;

use std::path::{Path, PathBuf};

use common::{Cpu, at, cpu, pixels, record, says, shared_datasets, targets, temp, write};
use datasets::{
    CIFAR100_COARSE_NAMES, CIFAR100_FINE_NAMES, Cifar100, DataError, ImageDataset, LabelKind, Mode,
    Normalization, Split,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A CIFAR-100 record: coarse, fine, then R[h][w] = h, G[h][w] = w, B = 255.
fn record100(coarse: u8, fine: u8) -> Vec<u8> {
    let cifar10 = record(0, |c, y, x| match c {
        0 => y as u8,
        1 => x as u8,
        _ => 255,
    });
    [vec![coarse, fine], cifar10[1..].to_vec()].concat()
}

fn write_split(dir: &Path, name: &str, labels: &[(u8, u8)]) -> PathBuf {
    let bytes: Vec<u8> = labels.iter().flat_map(|&(c, f)| record100(c, f)).collect();
    write(dir, name, &bytes)
}

#[test]
fn records_are_read_with_both_labels_in_chw_order() {
    let dir = temp();
    write_split(dir.path(), "train.bin", &[(4, 30), (19, 99), (0, 0)]);
    let fine = Cifar100::load(dir.path(), Split::Train, LabelKind::Fine).expect("load");
    assert_eq!(fine.len(), 3);
    let r = &fine.records()[0];
    assert_eq!((r.coarse, r.fine), (4, 30));
    assert_eq!(r.image.len(), 3072);
    assert_eq!((r.image[at(0, 5, 9)], r.image[at(1, 5, 9)]), (5, 9));
    assert_eq!(r.image[at(2, 31, 31)], 255);
    assert_eq!(fine.class_names()[0], "apple");
    assert_eq!(fine.class_names().len(), 100);
    assert_eq!(ImageDataset::num_classes(&fine), 100);
    assert_eq!(
        (0..3).map(|i| fine.label(i)).collect::<Vec<_>>(),
        [30, 99, 0]
    );

    let coarse = fine.with_label_kind(LabelKind::Coarse);
    assert_eq!(ImageDataset::num_classes(&coarse), 20);
    assert_eq!(coarse.class_names()[0], "aquatic_mammals");
    let batch = coarse
        .batch::<Cpu>(&[1, 0], Mode::Eval, &mut StdRng::seed_from_u64(0), &cpu())
        .expect("batch");
    assert_eq!(targets(&batch), vec![19, 4]);
    let x = pixels(&batch);
    assert_eq!(batch.images.dims(), [2, 3, 32, 32]);
    assert_eq!((x[at(0, 5, 9)], x[at(1, 5, 9)]), (5.0 / 255.0, 9.0 / 255.0));
    assert_eq!(x[at(2, 0, 0)], 1.0);
    assert_eq!(coarse.to_items()[1].label, 19);
    assert_eq!(coarse.normalization(), Normalization::CIFAR100);
}

#[test]
fn name_files_are_read_when_present() {
    let dir = temp();
    write_split(dir.path(), "test.bin", &[(1, 2)]);
    let fine: String = (0..100).map(|i| format!("f{i}\n")).collect();
    write(dir.path(), "fine_label_names.txt", fine.as_bytes());
    let coarse: String = (0..20).map(|i| format!("c{i}\n\n")).collect();
    write(dir.path(), "coarse_label_names.txt", coarse.as_bytes());
    let data = Cifar100::load(dir.path(), Split::Test, LabelKind::Coarse).expect("load");
    assert_eq!(data.class_names()[1], "c1");
    assert_eq!(data.fine_names()[2], "f2");
}

#[test]
fn shared_subset_is_balanced_with_official_names() {
    let Some(root) = shared_datasets() else {
        eprintln!("skipped: no shared data folder");
        return;
    };
    let dir = root.join("cifar100-subset");
    let train = Cifar100::load(&dir, Split::Train, LabelKind::Fine).expect("train");
    let test = Cifar100::load(&dir, Split::Test, LabelKind::Coarse).expect("test");
    assert_eq!((train.len(), test.len()), (5000, 2000));
    let mut counts = vec![0; 100];
    train.records().iter().for_each(|r| counts[r.fine] += 1);
    assert_eq!(counts, vec![50; 100]);
    assert_eq!(
        train.fine_names(),
        CIFAR100_FINE_NAMES.map(String::from).as_slice()
    );
    assert_eq!(
        test.coarse_names(),
        CIFAR100_COARSE_NAMES.map(String::from).as_slice()
    );
    let mut coarse = vec![0; 20];
    test.records().iter().for_each(|r| coarse[r.coarse] += 1);
    assert_eq!(
        coarse,
        vec![100; 20],
        "5 fine classes of 20 images per superclass"
    );
}

#[test]
fn missing_folder_and_missing_file_are_reported() {
    let dir = temp();
    let gone = dir.path().join("cifar-100-binary");
    let err = Cifar100::load(&gone, Split::Train, LabelKind::Fine).expect_err("must fail");
    assert!(
        matches!(&err, DataError::Missing { path, .. } if *path == gone),
        "{err:?}"
    );
    says(&err, &["cifar-100-binary does not exist"]);
    let err = Cifar100::load(dir.path(), Split::Test, LabelKind::Fine).expect_err("must fail");
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("test.bin"), "{err}");
    let file = write(dir.path(), "not-a-folder", b"x");
    let err = Cifar100::load(&file, Split::Test, LabelKind::Fine).expect_err("must fail");
    assert!(matches!(err, DataError::NotAFolder { .. }), "{err:?}");
    says(&err, &["not-a-folder is not a folder"]);
}

#[test]
fn folder_where_a_file_belongs_is_reported() {
    let dir = temp();
    std::fs::create_dir(dir.path().join("train.bin")).expect("mkdir");
    let err = Cifar100::load(dir.path(), Split::Train, LabelKind::Fine).expect_err("must fail");
    assert!(matches!(err, DataError::NotAFile { .. }), "{err:?}");
    says(&err, &["train.bin is not a regular file"]);
}

/// A file no one can open (a link to itself): named, with the system's reason.
#[cfg(unix)]
#[test]
fn unreadable_file_is_reported_with_the_reason() {
    let dir = temp();
    common::self_link(dir.path(), "train.bin");
    let err = Cifar100::load(dir.path(), Split::Train, LabelKind::Fine).expect_err("must fail");
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    says(&err, &["cannot read", "train.bin", "symbolic links"]);
}

#[test]
fn empty_file_is_reported() {
    let dir = temp();
    write(dir.path(), "train.bin", b"");
    let err = Cifar100::load(dir.path(), Split::Train, LabelKind::Fine).expect_err("must fail");
    assert!(matches!(err, DataError::EmptyFile { .. }), "{err:?}");
    assert!(err.to_string().contains("train.bin") && err.to_string().contains("3074"));
}

#[test]
fn a_cifar10_file_has_the_wrong_size() {
    let dir = temp();
    let bytes: Vec<u8> = (0..3).flat_map(|_| record(1, |_, _, _| 0)).collect();
    write(dir.path(), "train.bin", &bytes);
    let err = Cifar100::load(dir.path(), Split::Train, LabelKind::Fine).expect_err("must fail");
    assert!(
        matches!(
            err,
            DataError::BadSize {
                len: 9219,
                record: 3074,
                ..
            }
        ),
        "{err:?}"
    );
    says(
        &err,
        &[
            "train.bin has 9219 bytes",
            "3074-byte record",
            "3071 of 3074 bytes",
        ],
    );
    // One whole record and a truncated second one.
    let mut bytes = record100(1, 2);
    bytes.extend_from_slice(&record100(3, 4)[..1000]);
    write(dir.path(), "train.bin", &bytes);
    let err = Cifar100::load(dir.path(), Split::Train, LabelKind::Fine).expect_err("must fail");
    assert!(
        matches!(err, DataError::BadSize { len: 4074, .. }),
        "{err:?}"
    );
    says(
        &err,
        &["holds 1 whole records", "truncated (1000 of 3074 bytes)"],
    );
}

#[test]
fn labels_out_of_range_are_reported_with_their_kind() {
    for (labels, field, label, classes) in [
        ([(0, 0), (3, 100)], "fine", 100, 100),
        ([(0, 0), (20, 5)], "coarse", 20, 20),
    ] {
        let dir = temp();
        write_split(dir.path(), "test.bin", &labels);
        let err =
            Cifar100::load(dir.path(), Split::Test, LabelKind::Coarse).expect_err("must fail");
        assert!(
            matches!(err, DataError::Cifar100Label { record: 1, field: f, label: l,
                classes: c, .. } if f == field && l == label && c == classes),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("test.bin") && msg.contains(field), "{msg}");
    }
}

#[test]
fn swapped_name_files_are_reported() {
    let dir = temp();
    write_split(dir.path(), "train.bin", &[(1, 2)]);
    let coarse: String = CIFAR100_COARSE_NAMES
        .iter()
        .map(|n| format!("{n}\n"))
        .collect();
    write(dir.path(), "fine_label_names.txt", coarse.as_bytes());
    let err = Cifar100::load(dir.path(), Split::Train, LabelKind::Fine).expect_err("must fail");
    assert!(
        matches!(
            err,
            DataError::ClassNames {
                found: 20,
                expected: 100,
                ..
            }
        ),
        "{err:?}"
    );
    says(
        &err,
        &["fine_label_names.txt lists 20 class names", "expected 100"],
    );
    // A coarse-name file cut short.
    let short: String = CIFAR100_COARSE_NAMES[..19]
        .iter()
        .map(|n| format!("{n}\n"))
        .collect();
    std::fs::remove_file(dir.path().join("fine_label_names.txt")).expect("remove");
    write(dir.path(), "coarse_label_names.txt", short.as_bytes());
    let err = Cifar100::load(dir.path(), Split::Train, LabelKind::Coarse).expect_err("must fail");
    assert!(
        matches!(
            err,
            DataError::ClassNames {
                found: 19,
                expected: 20,
                ..
            }
        ),
        "{err:?}"
    );
    says(
        &err,
        &["coarse_label_names.txt lists 19 class names", "expected 20"],
    );
}

#[test]
fn select_and_out_of_range_batches() {
    let dir = temp();
    write_split(dir.path(), "train.bin", &[(1, 2), (3, 4), (5, 6)]);
    let data = Cifar100::load(dir.path(), Split::Train, LabelKind::Fine).expect("load");
    let picked = data.select(&[2, 0]).expect("select");
    assert_eq!(picked.records()[0].fine, 6);
    assert!(matches!(
        data.select(&[3]),
        Err(DataError::IndexOutOfRange { index: 3, len: 3 })
    ));
    let err = data
        .batch::<Cpu>(&[5], Mode::Train, &mut StdRng::seed_from_u64(0), &cpu())
        .expect_err("must fail");
    assert!(
        matches!(err, DataError::IndexOutOfRange { index: 5, .. }),
        "{err:?}"
    );
}
