//! Tensors made by `CifarBatcher`: scaling, normalisation, crop, flip, determinism.

mod common;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use common::{at, busy_image, pitfalls_record, repo_mini};
use datasets::{
    Augmentation, Cifar10, CifarBatcher, CifarItem, ImageBatch, Normalization, Placement, Split,
};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(not(feature = "test-ndarray"))]
type Cpu = burn::backend::Flex;
/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(feature = "test-ndarray")]
type Cpu = burn::backend::NdArray;
type B = Cpu;

fn device() -> burn::tensor::Device<B> {
    Default::default()
}

fn pitfalls_item() -> CifarItem {
    let bytes = pitfalls_record();
    CifarItem {
        image: bytes[1..].to_vec(),
        label: usize::from(bytes[0]),
    }
}

fn floats(batch: &ImageBatch<B>) -> Vec<f32> {
    batch.images.to_data().to_vec::<f32>().expect("f32 data")
}

fn labels(batch: &ImageBatch<B>) -> Vec<i64> {
    let data = batch.targets.to_data().convert::<i64>();
    data.to_vec::<i64>().expect("int data")
}

fn batch(b: &CifarBatcher, items: &[&CifarItem], seed: u64) -> ImageBatch<B> {
    b.batch_with_rng::<B>(items, &mut StdRng::seed_from_u64(seed), &device())
}

/// Index of (n, c, y, x) in a flat NCHW buffer.
fn idx(n: usize, c: usize, y: usize, x: usize) -> usize {
    n * 3072 + at(c, y, x)
}

#[test]
fn pitfalls_scaling_without_normalisation() {
    let item = pitfalls_item();
    let b = CifarBatcher::new(Normalization::IDENTITY, None);
    let out = batch(&b, &[&item], 0);
    assert_eq!(out.images.dims(), [1, 3, 32, 32]);
    let x = floats(&out);
    assert!((x[idx(0, 0, 5, 9)] - 5.0 / 255.0).abs() < 1e-7);
    assert!((x[idx(0, 1, 5, 9)] - 9.0 / 255.0).abs() < 1e-7);
    assert!(
        (0..1024).all(|i| x[2048 + i] == 1.0),
        "blue plane must be exactly 1.0"
    );
    assert_eq!(labels(&out), vec![7]);
}

#[test]
fn pitfalls_normalised_with_cifar10_statistics() {
    let item = pitfalls_item();
    let out = batch(&CifarBatcher::eval(), &[&item], 0);
    let x = floats(&out);
    assert!(
        (x[idx(0, 2, 0, 0)] - 2.1158).abs() < 1e-3,
        "got {}",
        x[idx(0, 2, 0, 0)]
    );
    let want = (1.0 - 0.44653) / 0.26159;
    assert!((x[idx(0, 2, 31, 31)] - want).abs() < 1e-5);
    let r = (5.0 / 255.0 - 0.491_399_68) / 0.247_032_33;
    assert!((x[idx(0, 0, 5, 9)] - r).abs() < 1e-5);
    let g = (9.0 / 255.0 - 0.482_158_27) / 0.243_485_05;
    assert!((x[idx(0, 1, 5, 9)] - g).abs() < 1e-5);
}

#[test]
fn no_augmentation_gives_exact_values_and_leaves_rng_alone() {
    let item = CifarItem {
        image: busy_image(),
        label: 4,
    };
    let norm = Normalization {
        mean: [0.1, 0.2, 0.3],
        std: [0.5, 0.25, 2.0],
    };
    let b = CifarBatcher::new(norm, None);
    let mut rng = StdRng::seed_from_u64(5);
    let before = rng.clone().next_u64();
    let out = b.batch_with_rng::<B>(&[&item, &item], &mut rng, &device());
    assert_eq!(
        rng.next_u64(),
        before,
        "rng must not be used without augmentation"
    );
    let x = floats(&out);
    for (i, &byte) in item.image.iter().enumerate() {
        let c = i / 1024;
        let want = (f32::from(byte) / 255.0 - norm.mean[c]) / norm.std[c];
        assert_eq!(x[i], want, "pixel {i}");
        assert_eq!(x[3072 + i], want, "pixel {i} of second image");
    }
    assert_eq!(labels(&out), vec![4, 4]);
}

#[test]
fn same_seed_same_batch_other_seed_other_batch() {
    let data = Cifar10::load(repo_mini(), Split::Test).expect("test");
    let items: Vec<&CifarItem> = data.items().iter().take(16).collect();
    let b = CifarBatcher::train();
    let (one, two) = (batch(&b, &items, 42), batch(&b, &items, 42));
    assert_eq!(floats(&one), floats(&two));
    assert_eq!(labels(&one), labels(&two));
    assert_ne!(floats(&one), floats(&batch(&b, &items, 43)));
    let want: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
    assert_eq!(labels(&one), want);
}

#[test]
fn crop_keeps_shape_and_is_a_shift_with_black_padding() {
    let item = CifarItem {
        image: busy_image(),
        label: 1,
    };
    let items = vec![&item; 24];
    let aug = Augmentation {
        crop_padding: 4,
        horizontal_flip: false,
    };
    let b = CifarBatcher::new(Normalization::CIFAR10, Some(aug));
    let out = batch(&b, &items, 7);
    assert_eq!(out.images.dims(), [24, 3, 32, 32]);
    let x = floats(&out);
    let table = Normalization::CIFAR10.table();
    let mut shifts = Vec::new();
    for n in 0..24 {
        let found = find_shift(&x[n * 3072..(n + 1) * 3072], &item.image, &table);
        shifts.push(found.expect("every crop is a shift of the padded image"));
    }
    assert!(
        shifts
            .iter()
            .all(|&(dy, dx)| dy.abs() <= 4 && dx.abs() <= 4)
    );
    assert!(
        shifts.iter().any(|&s| s != (0, 0)),
        "some crop must move: {shifts:?}"
    );
    let distinct: std::collections::BTreeSet<_> = shifts.iter().collect();
    assert!(distinct.len() > 5, "crops should vary: {shifts:?}");
}

/// The shift (dy, dx) in -4..=4 for which `out` is the shifted image, black outside.
fn find_shift(out: &[f32], image: &[u8], table: &[[f32; 256]; 3]) -> Option<(i64, i64)> {
    let shifted = |dy: i64, dx: i64, c: usize, y: usize, x: usize| {
        let (sy, sx) = (y as i64 + dy, x as i64 + dx);
        let inside = (0..32).contains(&sy) && (0..32).contains(&sx);
        let byte = if inside {
            image[at(c, sy as usize, sx as usize)]
        } else {
            0
        };
        table[c][usize::from(byte)]
    };
    let pairs = (-4..=4).flat_map(|dy| (-4..=4).map(move |dx| (dy, dx)));
    pairs.into_iter().find(|&(dy, dx)| {
        (0..3072).all(|i| out[i] == shifted(dy, dx, i / 1024, (i / 32) % 32, i % 32))
    })
}

#[test]
fn padding_is_black_before_normalisation() {
    let white = CifarItem {
        image: vec![255; 3072],
        label: 0,
    };
    let norm = Normalization::CIFAR10;
    let table = norm.table();
    let mut out = vec![0f32; 3072];
    Placement {
        dy: 4,
        dx: -4,
        flip: false,
    }
    .render(&white.image, &table, &mut out);
    for c in 0..3 {
        let pad = (0.0 - norm.mean[c]) / norm.std[c];
        let white = (1.0 - norm.mean[c]) / norm.std[c];
        // dy = 4: output rows 28..32 read source rows 32..36, outside the image.
        assert_eq!(out[at(c, 28, 10)], pad);
        // dx = -4: output columns 0..4 read source columns -4..0.
        assert_eq!(out[at(c, 10, 3)], pad);
        assert_eq!(out[at(c, 27, 4)], white);
    }
}

#[test]
fn flip_mirrors_exactly() {
    let item = CifarItem {
        image: busy_image(),
        label: 2,
    };
    let items = vec![&item; 16];
    let aug = Augmentation {
        crop_padding: 0,
        horizontal_flip: true,
    };
    let b = CifarBatcher::new(Normalization::IDENTITY, Some(aug));
    let x = floats(&batch(&b, &items, 3));
    let px = |byte: u8| f32::from(byte) / 255.0;
    let (mut plain, mut mirrored) = (0, 0);
    for n in 0..16 {
        let img = &x[n * 3072..(n + 1) * 3072];
        let same = (0..3072).all(|i| img[i] == px(item.image[i]));
        let flip = (0..3072).all(|i| {
            let (c, y, xx) = (i / 1024, (i / 32) % 32, i % 32);
            img[i] == px(item.image[at(c, y, 31 - xx)])
        });
        assert!(
            same ^ flip,
            "image {n} is neither the original nor its mirror"
        );
        plain += usize::from(same);
        mirrored += usize::from(flip);
    }
    assert!(
        plain > 0 && mirrored > 0,
        "plain {plain}, mirrored {mirrored}"
    );
}

#[test]
fn huge_padding_and_short_images_do_not_panic() {
    let short = CifarItem {
        image: vec![200; 5],
        label: 9,
    };
    let aug = Augmentation {
        crop_padding: usize::MAX,
        horizontal_flip: true,
    };
    let b = CifarBatcher::new(Normalization::CIFAR10, Some(aug));
    let out = batch(&b, &[&short, &short], 1);
    assert_eq!(out.images.dims(), [2, 3, 32, 32]);
    assert!(floats(&out).iter().all(|v| v.is_finite()));
}

#[test]
fn empty_batch_has_zero_rows() {
    let out = batch(&CifarBatcher::train(), &[], 1);
    assert_eq!(out.images.dims(), [0, 3, 32, 32]);
    assert_eq!(out.targets.dims(), [0]);
}

#[test]
fn burn_batcher_trait_and_dataloader_work() {
    let item = pitfalls_item();
    let via_trait: ImageBatch<B> = CifarBatcher::eval().batch(vec![item.clone()], &device());
    assert_eq!(
        floats(&via_trait),
        floats(&batch(&CifarBatcher::eval(), &[&item], 9))
    );
    let data = Cifar10::load(repo_mini(), Split::Test).expect("test");
    let loader = DataLoaderBuilder::<B, CifarItem, ImageBatch<B>>::new(CifarBatcher::train())
        .batch_size(64)
        .shuffle(1)
        .build(data);
    let sizes: Vec<usize> = loader.iter().map(|b| b.images.dims()[0]).collect();
    assert_eq!(sizes, vec![64, 64, 64, 8]);
}

#[test]
fn settings_round_trip_through_json() {
    let norm = Normalization::CIFAR10;
    let text = serde_json::to_string(&norm).expect("serialise");
    assert_eq!(
        serde_json::from_str::<Normalization>(&text).expect("parse"),
        norm
    );
    let aug = Augmentation::STANDARD;
    let text = serde_json::to_string(&aug).expect("serialise");
    assert_eq!(
        serde_json::from_str::<Augmentation>(&text).expect("parse"),
        aug
    );
    assert_eq!((aug.crop_padding, aug.horizontal_flip), (4, true));
}

#[test]
fn draws_cover_every_shift_uniformly_and_flip_half_the_time() {
    let mut rng = StdRng::seed_from_u64(2024);
    let (mut dy_counts, mut dx_counts, mut flips) = ([0usize; 9], [0usize; 9], 0);
    let draws = 9000;
    for _ in 0..draws {
        let p = Augmentation::STANDARD.draw(&mut rng);
        dy_counts[usize::try_from(p.dy + 4).expect("dy in -4..=4")] += 1;
        dx_counts[usize::try_from(p.dx + 4).expect("dx in -4..=4")] += 1;
        flips += usize::from(p.flip);
    }
    // 1000 expected per value; 4.5 standard deviations is about 140.
    let uniform = |c: &[usize; 9]| c.iter().all(|&n| (860..=1140).contains(&n));
    assert!(
        uniform(&dy_counts) && uniform(&dx_counts),
        "{dy_counts:?} {dx_counts:?}"
    );
    assert!((4300..=4700).contains(&flips), "flips {flips}");
    let none = Augmentation {
        crop_padding: 0,
        horizontal_flip: false,
    };
    assert_eq!(none.draw(&mut rng), Placement::default());
}
