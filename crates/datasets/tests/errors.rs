//! Every malformed input is reported as a `DataError` naming the file and the defect.

mod common;

use std::path::PathBuf;

use common::{pitfalls_record, record, says, write};
use datasets::{Cifar10, DataError, Split, read_class_names};

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn missing_folder_is_reported() {
    let dir = temp();
    let gone = dir.path().join("no-such-folder");
    let err = Cifar10::load(&gone, Split::Train).expect_err("must fail");
    assert!(
        matches!(&err, DataError::Missing { path, .. } if *path == gone),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("no-such-folder") && msg.contains("does not exist"),
        "{msg}"
    );
}

#[test]
fn a_file_given_as_folder_is_reported() {
    let dir = temp();
    let file = write(dir.path(), "train.bin", &pitfalls_record());
    let err = Cifar10::load(&file, Split::Train).expect_err("must fail");
    assert!(
        matches!(err, DataError::NotADirectory { ref path } if *path == file),
        "{err:?}"
    );
    says(&err, &["train.bin", "is not a folder", "CIFAR-10 batches"]);
}

#[test]
fn folder_without_batches_is_reported() {
    let dir = temp();
    write(dir.path(), "readme.txt", b"hello");
    let err = Cifar10::load(dir.path(), Split::Test).expect_err("must fail");
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("data_batch_1.bin") && msg.contains("train.bin"),
        "{msg}"
    );
}

#[test]
fn missing_official_batch_is_named() {
    let dir = temp();
    for i in [1, 2, 4, 5] {
        write(
            dir.path(),
            &format!("data_batch_{i}.bin"),
            &pitfalls_record(),
        );
    }
    let err = Cifar10::load(dir.path(), Split::Train).expect_err("must fail");
    let want = dir.path().join("data_batch_3.bin");
    assert!(
        matches!(err, DataError::Missing { ref path, .. } if *path == want),
        "{err:?}"
    );
    assert!(err.to_string().contains("data_batch_3.bin"));
    // The test split of the same folder is missing too.
    let err = Cifar10::load(dir.path(), Split::Test).expect_err("must fail");
    assert!(err.to_string().contains("test_batch.bin"), "{err}");
}

#[test]
fn sample_layout_without_test_file_is_reported() {
    let dir = temp();
    write(dir.path(), "train.bin", &pitfalls_record());
    assert_eq!(
        Cifar10::load(dir.path(), Split::Train)
            .expect("train")
            .len(),
        1
    );
    let err = Cifar10::load(dir.path(), Split::Test).expect_err("must fail");
    assert!(matches!(err, DataError::Missing { ref path, .. } if path.ends_with("test.bin")));
    says(&err, &["test.bin does not exist"]);
}

#[test]
fn empty_file_is_reported() {
    let dir = temp();
    let path = write(dir.path(), "train.bin", &[]);
    let err = Cifar10::load(dir.path(), Split::Train).expect_err("must fail");
    assert!(
        matches!(err, DataError::Empty { path: ref p } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("train.bin") && err.to_string().contains("empty"));
}

#[test]
fn truncated_last_record_is_reported() {
    let dir = temp();
    let mut bytes = pitfalls_record();
    bytes.extend(pitfalls_record());
    bytes.extend(&pitfalls_record()[..100]);
    let path = write(dir.path(), "odd.bin", &bytes);
    let err = Cifar10::from_files(std::slice::from_ref(&path)).expect_err("must fail");
    match &err {
        DataError::BadSize {
            path: p,
            len,
            record,
        } => {
            assert_eq!((p, *len, *record), (&path, 6246, 3073));
        }
        other => panic!("expected BadSize, got {other:?}"),
    }
    let msg = err.to_string();
    for part in [
        "odd.bin",
        "6246 bytes",
        "3073",
        "2 whole records",
        "truncated",
        "100 of 3073",
    ] {
        assert!(msg.contains(part), "{part:?} missing from {msg}");
    }
}

#[test]
fn file_shorter_than_one_record_is_truncated() {
    let dir = temp();
    let path = write(dir.path(), "tiny.bin", &[3u8; 10]);
    let err = Cifar10::from_files(&[path]).expect_err("must fail");
    assert!(matches!(err, DataError::BadSize { len: 10, .. }), "{err:?}");
    assert!(err.to_string().contains("0 whole records"));
}

#[test]
fn label_out_of_range_names_file_record_and_label() {
    let dir = temp();
    let mut bytes = pitfalls_record();
    bytes.extend(record(10, |_, _, _| 0));
    let path = write(dir.path(), "data_batch_1.bin", &bytes);
    let err = Cifar10::from_files(std::slice::from_ref(&path)).expect_err("must fail");
    match &err {
        DataError::LabelOutOfRange {
            path: p,
            record,
            label,
            classes,
        } => {
            assert_eq!((p, *record, *label, *classes), (&path, 1, 10, 10));
        }
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("data_batch_1.bin") && msg.contains("record 1"),
        "{msg}"
    );
    assert!(msg.contains("label 10") && msg.contains("0..=9"), "{msg}");
}

#[test]
fn label_255_is_out_of_range() {
    let dir = temp();
    let path = write(dir.path(), "x.bin", &record(255, |_, _, _| 1));
    let err = Cifar10::from_files(&[path]).expect_err("must fail");
    assert!(matches!(
        err,
        DataError::LabelOutOfRange {
            label: 255,
            record: 0,
            ..
        }
    ));
    says(&err, &["x.bin record 0", "label 255", "0..=9"]);
}

#[test]
fn folder_where_a_file_belongs_is_reported() {
    let dir = temp();
    std::fs::create_dir(dir.path().join("train.bin")).expect("mkdir");
    let err = Cifar10::load(dir.path(), Split::Train).expect_err("must fail");
    assert!(matches!(err, DataError::NotAFile { ref path } if path.ends_with("train.bin")));
    says(
        &err,
        &["train.bin is not a regular file", "expected a file"],
    );
}

#[test]
fn missing_file_in_from_files_is_reported() {
    let dir = temp();
    let ok = write(dir.path(), "a.bin", &pitfalls_record());
    let gone = dir.path().join("b.bin");
    let err = Cifar10::from_files(&[ok, gone.clone()]).expect_err("must fail");
    assert!(
        matches!(err, DataError::Missing { ref path, .. } if *path == gone),
        "{err:?}"
    );
    says(&err, &["b.bin does not exist"]);
}

#[test]
fn no_files_is_an_error() {
    let err = Cifar10::from_files(&[]).expect_err("must fail");
    assert!(matches!(err, DataError::NoFiles), "{err:?}");
    says(&err, &["no CIFAR-10 batch file was given"]);
}

#[test]
fn class_name_file_with_wrong_count_is_reported() {
    let dir = temp();
    write(dir.path(), "train.bin", &pitfalls_record());
    let names = "a\nb\nc\nd\ne\nf\ng\nh\ni\n\n";
    let meta = write(dir.path(), "batches.meta.txt", names.as_bytes());
    let err = Cifar10::load(dir.path(), Split::Train).expect_err("must fail");
    match &err {
        DataError::ClassNames {
            path,
            found,
            expected,
        } => {
            assert_eq!((path, *found, *expected), (&meta, 9, 10));
        }
        other => panic!("expected ClassNames, got {other:?}"),
    }
    says(
        &err,
        &["batches.meta.txt lists 9 class names", "expected 10"],
    );
}

#[test]
fn class_name_file_tolerates_blank_lines_and_crlf() {
    let dir = temp();
    write(dir.path(), "train.bin", &pitfalls_record());
    let names = "z0\r\nz1\r\n\r\nz2\nz3\nz4\nz5\nz6\nz7\nz8\nz9\n\n";
    write(dir.path(), "batches.meta.txt", names.as_bytes());
    let data = Cifar10::load(dir.path(), Split::Train).expect("load");
    let want: Vec<String> = (0..10).map(|i| format!("z{i}")).collect();
    assert_eq!(data.class_names(), want.as_slice());
}

#[test]
fn class_name_folder_and_bad_utf8_are_reported() {
    let dir = temp();
    std::fs::create_dir(dir.path().join("names")).expect("mkdir");
    let err = read_class_names(dir.path().join("names")).expect_err("must fail");
    assert!(matches!(err, DataError::NotAFile { .. }), "{err:?}");
    says(&err, &["names is not a regular file"]);
    let bad = write(dir.path(), "bad.txt", &[0xff, 0xfe, b'\n']);
    let err = read_class_names(&bad).expect_err("must fail");
    assert!(
        matches!(err, DataError::Io { ref path, .. } if *path == bad),
        "{err:?}"
    );
    says(&err, &["cannot read", "bad.txt", "UTF-8"]);
}

#[test]
fn errors_are_std_errors_with_sources() {
    let dir = temp();
    let bad = write(dir.path(), "bad.txt", &[0xff]);
    let err = read_class_names(bad).expect_err("must fail");
    let dyn_err: &dyn std::error::Error = &err;
    assert!(dyn_err.source().is_some());
    let _: PathBuf = match err {
        DataError::Io { path, .. } => path,
        other => panic!("{other:?}"),
    };
}

/// A file that cannot be opened: a symbolic link to itself (permissions cannot be used
/// here, the tests may run as root). The error names it and carries the system's reason.
#[cfg(unix)]
#[test]
fn unreadable_file_is_reported_with_the_reason() {
    let dir = temp();
    let link = dir.path().join("train.bin");
    std::os::unix::fs::symlink(&link, &link).expect("symlink");
    let err = Cifar10::from_files(std::slice::from_ref(&link)).expect_err("must fail");
    assert!(
        matches!(err, DataError::Io { ref path, .. } if *path == link),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("cannot read") && msg.contains("train.bin"),
        "{msg}"
    );
    assert!(msg.contains("symbolic links"), "the system's reason: {msg}");
}

/// A named pipe where a batch file belongs: refused at once, never read (reading it would
/// wait forever for a writer).
#[cfg(unix)]
#[test]
fn a_named_pipe_is_refused_without_hanging() {
    let dir = temp();
    let fifo = dir.path().join("train.bin");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "mkfifo (coreutils) makes the pipe"
    );
    let err = Cifar10::load(dir.path(), Split::Train).expect_err("must fail");
    assert!(
        matches!(err, DataError::NotAFile { ref path } if *path == fifo),
        "{err:?}"
    );
    says(&err, &["train.bin is not a regular file"]);
}
