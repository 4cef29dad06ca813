//! Reading the committed sample, the shared full set and in-memory items.

mod common;

use burn::data::dataset::Dataset;
use common::{at, pitfalls_record, repo_mini, shared_datasets, write};
use datasets::{CLASS_NAMES, Cifar10, CifarItem, DataError, Normalization, Split};

fn close(a: [f32; 3], b: [f32; 3], tol: f32) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn pitfalls_record_is_read_in_chw_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "one.bin", &pitfalls_record());
    let data = Cifar10::from_files(&[path]).expect("load");
    assert_eq!(data.len(), 1);
    let item = &data.items()[0];
    assert_eq!(item.label, 7);
    assert_eq!(item.image.len(), 3072);
    assert_eq!(item.image[at(0, 5, 9)], 5);
    assert_eq!(item.image[at(1, 5, 9)], 9);
    assert_eq!(item.image[at(2, 31, 0)], 255);
    assert_eq!(data.class_names(), CLASS_NAMES.map(String::from).as_slice());
}

#[test]
fn repo_sample_has_balanced_classes_and_known_first_records() {
    let train = Cifar10::load(repo_mini(), Split::Train).expect("train");
    let test = Cifar10::load(repo_mini(), Split::Test).expect("test");
    assert_eq!((train.len(), test.len()), (1000, 200));
    assert_eq!(train.class_counts(), vec![100; 10]);
    assert_eq!(test.class_counts(), vec![20; 10]);
    assert!(
        train
            .items()
            .iter()
            .chain(test.items())
            .all(|i| i.label < 10)
    );
    assert_eq!(
        train.class_names(),
        CLASS_NAMES.map(String::from).as_slice()
    );
    let first = &train.items()[0];
    assert_eq!(first.label, 5);
    assert_eq!(first.image[0..4], [136, 137, 139, 158]);
    assert_eq!(first.image[1024..1028], [133, 135, 138, 156]);
    assert_eq!(first.image[2048..2052], [138, 141, 144, 161]);
    let first = &test.items()[0];
    assert_eq!(first.label, 3);
    for c in 0..3 {
        assert_eq!(first.image[c * 1024..c * 1024 + 4], [78, 75, 75, 73]);
    }
}

#[test]
fn repo_sample_statistics_match_published_values() {
    let train = Cifar10::load(repo_mini(), Split::Train).expect("train");
    let stats = Normalization::compute(train.items()).expect("non-empty");
    assert!(
        close(stats.mean, [0.493_871_1, 0.478_427_76, 0.444_390_7], 1e-6),
        "{stats:?}"
    );
    assert!(
        close(stats.std, [0.244_856_9, 0.242_415_57, 0.261_836_2], 1e-6),
        "{stats:?}"
    );
    assert_eq!(Normalization::compute(&[]), None);
}

#[test]
fn shared_sample_matches_repo_copy_when_present() {
    let Some(shared) = shared_datasets() else {
        eprintln!("no shared data folder here; skipped");
        return;
    };
    for split in [Split::Train, Split::Test] {
        let a = Cifar10::load(shared.join("cifar10-mini"), split).expect("shared");
        let b = Cifar10::load(repo_mini(), split).expect("repo");
        assert_eq!(a.items(), b.items());
    }
}

#[test]
fn full_cifar10_when_present() {
    let Some(shared) = shared_datasets() else {
        eprintln!("no shared data folder here; skipped");
        return;
    };
    let dir = shared.join("cifar-10-batches-bin");
    let train = Cifar10::load(&dir, Split::Train).expect("train");
    let test = Cifar10::load(&dir, Split::Test).expect("test");
    assert_eq!((train.len(), test.len()), (50_000, 10_000));
    assert_eq!(train.class_counts(), vec![5000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    // data_batch_2.bin record 5263 is the Keras x_train[0] frog.
    let frog = &train.items()[10_000 + 5263];
    assert_eq!(frog.label, 6);
    let rgb = |i: &CifarItem, x| [0, 1, 2].map(|c| i.image[at(c, 0, x)]);
    assert_eq!(
        (rgb(frog, 0), rgb(frog, 1), rgb(frog, 31)),
        ([59, 62, 63], [43, 46, 45], [148, 124, 103])
    );
    let cat = &test.items()[8332];
    assert_eq!(
        (cat.label, rgb(cat, 0), rgb(cat, 1)),
        (3, [158, 112, 49], [159, 111, 47])
    );
    let stats = Normalization::compute(train.items()).expect("non-empty");
    assert!(
        close(stats.mean, [0.491_399_68, 0.482_158_4, 0.446_530_9], 1e-6),
        "{stats:?}"
    );
    assert!(
        close(stats.std, [0.247_032_23, 0.243_485_13, 0.261_587_84], 1e-6),
        "{stats:?}"
    );
    let c = Normalization::CIFAR10;
    assert!(close(stats.mean, c.mean, 3e-6) && close(stats.std, c.std, 3e-6));
}

#[test]
fn burn_dataset_trait_gives_items() {
    let train = Cifar10::load(repo_mini(), Split::Train).expect("train");
    assert_eq!(Dataset::len(&train), 1000);
    assert_eq!(train.get(999).as_ref(), train.items().last());
    assert!(train.get(1000).is_none());
    assert_eq!(train.iter().count(), 1000);
}

#[test]
fn subset_is_balanced_seeded_and_ordered() {
    let train = Cifar10::load(repo_mini(), Split::Train).expect("train");
    let a = train.subset(100, 3);
    assert_eq!(a.len(), 100);
    assert_eq!(a.class_counts(), vec![10; 10]);
    assert_eq!(a.items(), train.subset(100, 3).items());
    assert_ne!(a.items(), train.subset(100, 4).items());
    let odd = train.subset(25, 9).class_counts();
    assert!(odd.iter().all(|&c| c == 2 || c == 3) && odd.iter().sum::<usize>() == 25);
    // Which classes get the extra item depends on the seed.
    let extra = |seed| {
        train
            .subset(25, seed)
            .class_counts()
            .iter()
            .map(|&c| c == 3)
            .collect()
    };
    let patterns: std::collections::BTreeSet<Vec<bool>> = (0..8).map(extra).collect();
    assert!(patterns.len() > 1, "{patterns:?}");
    assert_eq!(train.subset(5000, 1).items(), train.items());
    assert!(train.subset(0, 1).is_empty());
    // Items keep the file order: positions in the full set increase.
    let pos: Vec<usize> = a
        .items()
        .iter()
        .map(|i| {
            train
                .items()
                .iter()
                .position(|j| j == i)
                .expect("from train")
        })
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn subset_of_unbalanced_data_uses_what_exists() {
    let item = |label| CifarItem {
        image: vec![label as u8; 3072],
        label,
    };
    let mut items = vec![item(0); 50];
    items.extend(vec![item(1); 2]);
    let data = Cifar10::from_items(items, Vec::new()).expect("valid");
    let sub = data.subset(10, 0);
    assert_eq!(sub.class_counts()[..2], [8, 2]);
}

#[test]
fn select_and_from_items_check_their_input() {
    let train = Cifar10::load(repo_mini(), Split::Test).expect("test");
    let picked = train.select(&[5, 0, 5]).expect("in range");
    assert_eq!(picked.items()[0], train.items()[5]);
    assert_eq!(picked.items()[1], train.items()[0]);
    let err = train.select(&[0, 200]).expect_err("out of range");
    assert!(matches!(
        err,
        DataError::IndexOutOfRange {
            index: 200,
            len: 200
        }
    ));
    let short = CifarItem {
        image: vec![0; 10],
        label: 0,
    };
    let err = Cifar10::from_items(vec![short], Vec::new()).expect_err("short image");
    assert!(
        matches!(err, DataError::InvalidItem { index: 0, .. }),
        "{err:?}"
    );
    let bad = CifarItem {
        image: vec![0; 3072],
        label: 2,
    };
    let err = Cifar10::from_items(vec![bad], vec!["a".into(), "b".into()]).expect_err("label");
    assert!(err.to_string().contains("label 2"), "{err}");
}
