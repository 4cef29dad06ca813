//! Retraining genotypes end to end: the paper's BIODARTS cell and the searched genotype
//! shipped in `genotypes/` on the CIFAR-10 sample, and the CIFAR-10 genotype retrained on
//! CIFAR-100 records and on an ImageNet-style image folder.

use bionas::backend::Autodiff;
use bionas::datasets::{
    Cifar10, Cifar100, FolderTransform, ImageDataset, ImageFolder, LabelKind, Normalization, Split,
};
use bionas::nas::{
    self, DropPathSchedule, RunDir, Selection, Silent, TrainConfig, TrainData, TrainSummary,
};
use bionas::search_space::genotype::known;
use bionas::search_space::{Genotype, NetworkConfig, StemKind};
use std::path::{Path, PathBuf};

type B = Autodiff<burn::backend::Flex>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn searched() -> Genotype {
    Genotype::load(root().join("genotypes/searched_cifar10_3k.json")).expect("shipped genotype")
}

/// One epoch with drop-path on from the start (the linear ramp would start at 0).
fn quick() -> TrainConfig {
    TrainConfig {
        epochs: 1,
        batch_size: 16,
        drop_path_schedule: DropPathSchedule::Constant,
        ..TrainConfig::cifar()
    }
}

/// Trains `network` for one epoch on the first images of `data` and returns the summary.
fn retrain<D: ImageDataset>(network: NetworkConfig, data: &D, dir: &Path) -> TrainSummary {
    let n = data.len().min(48);
    let train: Vec<usize> = (0..n * 2 / 3).collect();
    let valid: Vec<usize> = (n * 2 / 3..n).collect();
    let split = TrainData {
        train: Selection::new(data, &train),
        valid: Selection::new(data, &valid),
        test: Some(Selection::new(data, &valid)),
    };
    let model = network
        .init::<B>(&Default::default())
        .expect("valid network");
    let run = RunDir::create(dir).expect("run dir");
    let outcome = nas::train(model, &quick(), split, &run, &mut Silent).expect("trains");
    assert_eq!(outcome.epochs.len(), 1);
    let text = std::fs::read_to_string(dir.join("result.json")).expect("result.json");
    let summary: TrainSummary = serde_json::from_str(&text).expect("summary");
    let acc = summary.test_acc.expect("test accuracy");
    assert!((0.0..=1.0).contains(&acc));
    summary
}

fn small(genotype: Genotype, classes: usize) -> NetworkConfig {
    let norm = Normalization::CIFAR10;
    NetworkConfig::new(genotype)
        .with_channels(4)
        .with_layers(3)
        .with_classes(classes)
        .with_auxiliary(true)
        .with_mean(norm.mean)
        .with_std(norm.std)
}

#[test]
fn biodarts_and_the_searched_genotype_retrain_on_the_cifar10_sample() {
    let data = Cifar10::load(root().join("datasets/cifar10-mini"), Split::Train).expect("sample");
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, genotype) in [("biodarts", known::biodarts()), ("searched", searched())] {
        retrain(small(genotype, 10), &data, &dir.path().join(name));
    }
}

/// One CIFAR-100 record: coarse label, fine label, 3072 pixel bytes.
fn cifar100_file(path: &Path, records: usize) {
    let mut bytes = Vec::with_capacity(records * 3074);
    for i in 0..records {
        bytes.push((i % 20) as u8);
        bytes.push((i % 100) as u8);
        bytes.extend((0..3072).map(|k| ((k * 7 + i * 13) % 256) as u8));
    }
    std::fs::write(path, bytes).expect("write records");
}

#[test]
fn a_cifar10_genotype_retrains_on_cifar100_and_on_an_image_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c100 = dir.path().join("cifar100");
    std::fs::create_dir_all(&c100).expect("folder");
    cifar100_file(&c100.join("train.bin"), 40);
    let data = Cifar100::load(&c100, Split::Train, LabelKind::Fine).expect("records");
    assert_eq!(data.num_classes(), 100);
    retrain(small(searched(), 100), &data, &dir.path().join("run-c100"));

    let folder = dir.path().join("folder");
    for class in ["ant", "bee", "cat"] {
        std::fs::create_dir_all(folder.join(class)).expect("class folder");
        for k in 0..6u32 {
            let image = image::RgbImage::from_fn(40, 36, |x, y| {
                image::Rgb([(x * 6 + k) as u8, (y * 7) as u8, class.len() as u8 * 40])
            });
            image
                .save(folder.join(class).join(format!("{k}.png")))
                .expect("png");
        }
    }
    let data = ImageFolder::open(&folder)
        .expect("folder")
        .with_transform(FolderTransform::sized(32, 36, 32));
    let network = small(searched(), data.num_classes()).with_stem(StemKind::ImageNet);
    retrain(network, &data, &dir.path().join("run-folder"));
}
