//! The common `ImageDataset` interface on CIFAR-10: agreement with `CifarBatcher`, cutout,
//! subsets and stratified splits.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Cpu, cpu, pixels, targets};
use datasets::{
    Augmentation, Cifar10, CifarBatcher, CifarItem, Cutout, DataError, ImageDataset, Mode,
    Normalization, Subset, stratified_split,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// `n` items with distinct-ish pixels; item i has label i % 10.
fn items(n: usize) -> Vec<CifarItem> {
    (0..n)
        .map(|i| CifarItem {
            image: (0..3072).map(|k| ((k * 7 + i * 13) % 256) as u8).collect(),
            label: i % 10,
        })
        .collect()
}

fn cifar(n: usize) -> Cifar10 {
    Cifar10::from_items(items(n), Vec::new()).expect("items")
}

fn batch<D: ImageDataset>(data: &D, indices: &[usize], mode: Mode, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    pixels(
        &data
            .batch::<Cpu>(indices, mode, &mut rng, &cpu())
            .expect("batch"),
    )
}

#[test]
fn cifar10_batches_match_the_batcher_without_normalisation() {
    let data = cifar(6);
    let refs: Vec<&CifarItem> = data.items().iter().collect();
    let indices = [0, 1, 2, 3, 4, 5];
    for (mode, augmentation) in [
        (Mode::Eval, None),
        (Mode::Train, Some(Augmentation::STANDARD)),
    ] {
        let batcher = CifarBatcher::new(Normalization::IDENTITY, augmentation);
        let mut rng = StdRng::seed_from_u64(3);
        let want = batcher.to_buffer(&refs, &mut rng);
        assert_eq!(batch(&data, &indices, mode, 3), want, "{mode:?}");
    }
    let mut rng = StdRng::seed_from_u64(0);
    let b = data
        .batch::<Cpu>(&[4, 1], Mode::Eval, &mut rng, &cpu())
        .expect("batch");
    assert_eq!(b.images.dims(), [2, 3, 32, 32]);
    assert_eq!(targets(&b), vec![4, 1]);
    assert!(pixels(&b).iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn cutout_fills_one_clipped_square_with_the_mean() {
    let white = vec![
        CifarItem {
            image: vec![255; 3072],
            label: 0,
        };
        1
    ];
    let data = Cifar10::from_items(white, Vec::new())
        .expect("items")
        .with_cutout(Some(Cutout::DARTS));
    assert_eq!(data.cutout(), Some(Cutout::DARTS));
    let mean = Normalization::CIFAR10.mean;
    let mut sizes = BTreeSet::new();
    for seed in 0..40 {
        let x = batch(&data, &[0], Mode::Train, seed);
        let mut rows = BTreeSet::new();
        let mut cols = BTreeSet::new();
        for c in 0..3 {
            for i in 0..1024 {
                if x[c * 1024 + i] == mean[c] {
                    rows.insert(i / 32);
                    cols.insert(i % 32);
                }
            }
        }
        let count = (0..1024).filter(|&i| x[i] == mean[0]).count();
        assert_eq!(
            count,
            rows.len() * cols.len(),
            "seed {seed}: not a rectangle"
        );
        assert!(
            rows.len() <= 16 && cols.len() <= 16 && count > 0,
            "seed {seed}"
        );
        for (c, m) in mean.iter().enumerate() {
            let filled = (0..1024).filter(|&i| x[c * 1024 + i] == *m).count();
            assert_eq!(filled, count, "channel {c} filled with its own mean");
            let normalised = (m - Normalization::CIFAR10.mean[c]) / Normalization::CIFAR10.std[c];
            assert_eq!(normalised, 0.0);
        }
        sizes.insert(count);
    }
    assert!(
        sizes.contains(&256),
        "an unclipped 16x16 square appears: {sizes:?}"
    );
    assert!(sizes.len() > 1, "squares are clipped at the borders");

    let eval = batch(&data, &[0], Mode::Eval, 0);
    assert!(eval.iter().all(|&v| v == 1.0), "no cutout in evaluation");
    let off = data.clone().with_cutout(None);
    let train = batch(&off, &[0], Mode::Train, 5);
    assert!(
        train.iter().all(|&v| v == 1.0 || v == 0.0),
        "off by default"
    );
}

#[test]
fn eval_batches_do_not_touch_the_generator() {
    let data = cifar(3);
    let mut rng = StdRng::seed_from_u64(9);
    data.batch::<Cpu>(&[0, 1], Mode::Eval, &mut rng, &cpu())
        .expect("batch");
    let mut fresh = StdRng::seed_from_u64(9);
    use rand::RngCore;
    assert_eq!(rng.next_u64(), fresh.next_u64());
}

#[test]
fn subsets_map_indices_and_check_them() {
    let data = Arc::new(cifar(20));
    let subset = Subset::new(Arc::clone(&data), vec![7, 3, 12]).expect("subset");
    assert_eq!(subset.len(), 3);
    assert_eq!(subset.num_classes(), 10);
    assert_eq!(
        (0..3).map(|i| subset.label(i)).collect::<Vec<_>>(),
        [7, 3, 2]
    );
    assert_eq!(
        batch(&subset, &[2, 0], Mode::Train, 4),
        batch(&*data, &[12, 7], Mode::Train, 4)
    );
    let err = Subset::new(&*data, vec![1, 20]).expect_err("must fail");
    assert!(
        matches!(err, DataError::IndexOutOfRange { index: 20, len: 20 }),
        "{err:?}"
    );
    let mut rng = StdRng::seed_from_u64(0);
    let err = subset
        .batch::<Cpu>(&[3], Mode::Eval, &mut rng, &cpu())
        .expect_err("must fail");
    assert!(
        matches!(err, DataError::IndexOutOfRange { index: 3, len: 3 }),
        "{err:?}"
    );
}

#[test]
fn stratified_split_is_balanced_disjoint_and_repeatable() {
    let data = cifar(100);
    let (a, b) = stratified_split(&data, 0.3, 5);
    assert_eq!((a.len(), b.len()), (30, 70));
    let sa: BTreeSet<_> = a.iter().copied().collect();
    assert!(b.iter().all(|i| !sa.contains(i)));
    for class in 0..10 {
        assert_eq!(a.iter().filter(|&&i| data.label(i) == class).count(), 3);
    }
    assert_eq!(stratified_split(&data, 0.3, 5), (a.clone(), b));
    assert_ne!(stratified_split(&data, 0.3, 6).0, a, "the seed matters");
    let (all, none) = stratified_split(&data, f64::NAN, 1);
    assert_eq!((all.len(), none.len()), (50, 50));
}
