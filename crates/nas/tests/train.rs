//! Retraining a genotype: the loss, the schedules, model selection on the validation
//! split, checkpoints and a diverging run.

mod common;

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use common::Cpu;
use datasets::{DataError, ImageBatch, ImageDataset, Mode};
use nas::train::{cross_entropy, curves_svg, evaluate, load_checkpoint};
use nas::{
    DropPathSchedule, LrSchedule, NasError, RunDir, Selection, Silent, TrainConfig, TrainData,
    TrainSummary, train,
};
use rand::Rng;
use rand::rngs::StdRng;
use search_space::genotype::known;
use search_space::{Network, NetworkConfig};

type B = Autodiff<Cpu>;

/// The backend's generator is process-wide: tests that draw from it take turns, so a
/// seeded run is not disturbed by another test's draws.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Two classes of 8×8 images: dark (class 0) and bright (class 1), with noise. After
/// `poison_after` training batches, training images are NaN.
struct Shades {
    labels: Vec<usize>,
    poison_after: usize,
    batches: std::sync::atomic::AtomicUsize,
}

impl ImageDataset for Shades {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn num_classes(&self) -> usize {
        2
    }

    fn label(&self, index: usize) -> usize {
        self.labels[index]
    }

    fn batch<Bk: Backend>(
        &self,
        indices: &[usize],
        mode: Mode,
        rng: &mut StdRng,
        device: &Bk::Device,
    ) -> Result<ImageBatch<Bk>, DataError> {
        let mut pixels = Vec::new();
        let poisoned = mode == Mode::Train
            && self
                .batches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                >= self.poison_after;
        for &i in indices {
            let base = if self.labels[i] == 1 { 0.7 } else { 0.3 };
            for k in 0..3 * 64 {
                let noise = match mode {
                    Mode::Train => rng.random_range(-0.2..0.2),
                    Mode::Eval => ((i * 31 + k * 7) % 17) as f32 / 17.0 * 0.4 - 0.2,
                };
                pixels.push(if poisoned { f32::NAN } else { base + noise });
            }
        }
        let n = indices.len();
        let images = Tensor::from_data(TensorData::new(pixels, [n, 3, 8, 8]), device);
        let targets: Vec<i64> = indices.iter().map(|&i| self.labels[i] as i64).collect();
        let targets = Tensor::<Bk, 1, Int>::from_data(TensorData::new(targets, [n]), device);
        Ok(ImageBatch { images, targets })
    }
}

fn shades(n: usize) -> Shades {
    Shades {
        labels: (0..n).map(|i| i % 2).collect(),
        poison_after: usize::MAX,
        batches: Default::default(),
    }
}

fn tiny_network() -> Network<B> {
    NetworkConfig::new(known::biodarts())
        .with_channels(2)
        .with_layers(3)
        .with_classes(2)
        .with_auxiliary(true)
        .with_mean([0.5; 3])
        .with_std([0.25; 3])
        .init(&Default::default())
        .expect("valid")
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 8,
        lr: 0.05,
        seed: 3,
        ..TrainConfig::cifar()
    }
}

#[test]
fn cross_entropy_with_label_smoothing_matches_hand_values() {
    // logits [0, ln 3] → p = [0.25, 0.75]; target 1.
    let logits = Tensor::<Cpu, 2>::from_floats([[0.0, 3f32.ln()]], &Default::default());
    let targets = Tensor::<Cpu, 1, Int>::from_ints([1], &Default::default());
    let plain: f32 = cross_entropy(logits.clone(), targets.clone(), 0.0).into_scalar();
    assert!((plain - 0.75f32.ln().abs()).abs() < 1e-6);
    // 0.9 · (−ln 0.75) + 0.1 · (−(ln 0.25 + ln 0.75) / 2)
    let want = 0.9 * 0.287_682 + 0.1 * (1.386_294 + 0.287_682) / 2.0;
    let smoothed: f32 = cross_entropy(logits, targets, 0.1).into_scalar();
    assert!((smoothed - want).abs() < 1e-5, "{smoothed} vs {want}");
}

#[test]
fn schedules_follow_the_recipes() {
    let cifar = TrainConfig::cifar();
    assert!((cifar.lr_at(0) - 0.025).abs() < 1e-12);
    assert!((cifar.lr_at(300) - 0.0125).abs() < 1e-12);
    assert!((cifar.drop_path_at(0)).abs() < 1e-12);
    assert!((cifar.drop_path_at(300) - 0.1).abs() < 1e-12);
    let constant = TrainConfig {
        drop_path_schedule: DropPathSchedule::Constant,
        ..cifar.clone()
    };
    assert!((constant.drop_path_at(0) - 0.2).abs() < 1e-12);
    let imagenet = TrainConfig::imagenet();
    assert!((imagenet.lr_at(2) - 0.1 * 0.97 * 0.97).abs() < 1e-12);
    assert_eq!(imagenet.label_smoothing, 0.1);
    let json = serde_json::to_string(&imagenet).expect("serialise");
    assert_eq!(
        serde_json::from_str::<TrainConfig>(&json).expect("parse"),
        imagenet
    );
    for (bad, setting, reason) in [
        (
            TrainConfig {
                epochs: 0,
                ..cifar.clone()
            },
            "epochs",
            "must be at least 1",
        ),
        (
            TrainConfig {
                drop_path: 1.0,
                ..cifar.clone()
            },
            "drop_path",
            "must lie in [0, 1)",
        ),
        (
            TrainConfig {
                lr: -1.0,
                ..cifar.clone()
            },
            "lr",
            "must be positive",
        ),
        (
            TrainConfig {
                momentum: -0.9,
                ..cifar.clone()
            },
            "momentum",
            "must be finite and not negative",
        ),
        (
            TrainConfig {
                momentum: 2.0,
                ..cifar.clone()
            },
            "momentum",
            "must be below 1",
        ),
        (
            TrainConfig {
                schedule: LrSchedule::Exponential { gamma: 0.0 },
                ..cifar.clone()
            },
            "schedule.gamma",
            "must lie in (0, 1]",
        ),
    ] {
        let err = bad.validate().expect_err(setting);
        assert!(
            matches!(&err, NasError::Config { setting: s, .. } if *s == setting),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("invalid setting `{setting}`: {reason}")
        );
    }
}

#[test]
fn selects_on_validation_and_tests_once_at_the_end() {
    let _turn = serial();
    let data = shades(48);
    let (train_idx, valid_idx, test_idx): (Vec<_>, Vec<_>, Vec<_>) =
        ((0..32).collect(), (32..40).collect(), (40..48).collect());
    let dir = tempfile::tempdir().expect("temp dir");
    let run = RunDir::create(dir.path().join("run")).expect("run dir");
    let split = TrainData {
        train: Selection::new(&data, &train_idx),
        valid: Selection::new(&data, &valid_idx),
        test: Some(Selection::new(&data, &test_idx)),
    };
    let outcome = train(tiny_network(), &tiny_config(), split, &run, &mut Silent).expect("trains");
    assert_eq!(outcome.epochs.len(), 3);
    let best = outcome.epochs.iter().fold(&outcome.epochs[0], |b, e| {
        if e.valid_acc > b.valid_acc { e } else { b }
    });
    assert_eq!(outcome.best_epoch, best.epoch);
    assert_eq!(outcome.best_valid_acc, best.valid_acc);
    let metrics = std::fs::read_to_string(run.path().join("metrics.csv")).expect("metrics");
    assert_eq!(metrics.lines().count(), 4);
    let summary: TrainSummary = serde_json::from_str(
        &std::fs::read_to_string(run.path().join("result.json")).expect("result"),
    )
    .expect("summary");
    assert_eq!(summary.best_epoch, best.epoch);
    // The best checkpoint reproduces the reported validation and test accuracy.
    let device = Default::default();
    let loaded =
        load_checkpoint(&run.path().join("best.mpk"), tiny_inner(), &device).expect("loads");
    let (_, valid) =
        evaluate(&loaded, Selection::new(&data, &valid_idx), 8, &device).expect("eval");
    assert_eq!(valid, outcome.best_valid_acc);
    let (_, test) = evaluate(&loaded, Selection::new(&data, &test_idx), 8, &device).expect("eval");
    assert_eq!(Some(test), summary.test_acc);
    let svg = std::fs::read_to_string(run.path().join("curves.svg")).expect("curves");
    assert_eq!(svg, curves_svg(&outcome.epochs));
    assert!(svg.contains("<svg") && svg.contains("Accuracy"));
}

#[test]
fn non_finite_training_stops_with_advice_and_keeps_the_last_good_checkpoint() {
    let _turn = serial();
    // Two batches per epoch: epoch 0 is clean, the first batch of epoch 1 is NaN.
    let data = Shades {
        poison_after: 2,
        ..shades(24)
    };
    let (train_idx, valid_idx): (Vec<_>, Vec<_>) = ((0..16).collect(), (16..24).collect());
    let dir = tempfile::tempdir().expect("temp dir");
    let run = RunDir::create(dir.path().join("run")).expect("run dir");
    let split = TrainData {
        train: Selection::new(&data, &train_idx),
        valid: Selection::new(&data, &valid_idx),
        test: None,
    };
    let err =
        train(tiny_network(), &tiny_config(), split, &run, &mut Silent).expect_err("diverges");
    let message = err.to_string();
    // NaN pixels need not make the loss NaN (ReLU maps NaN to 0 on some backends), but
    // they always reach the stem's weight gradient.
    match err {
        NasError::Diverged { epoch, step, .. }
        | NasError::NonFiniteGradient { epoch, step, .. } => {
            assert_eq!((epoch, step), (1, 0))
        }
        other => panic!("expected divergence, got {other}"),
    }
    assert!(
        message.contains("try a lower learning rate") && message.contains("epoch 1"),
        "{message}"
    );
    let metrics = std::fs::read_to_string(run.path().join("metrics.csv")).expect("metrics");
    assert_eq!(metrics.lines().count(), 2, "header and epoch 0");
    let device = Default::default();
    let loaded = load_checkpoint(&run.path().join("last.mpk"), tiny_inner(), &device)
        .expect("the epoch-0 checkpoint loads");
    let (loss, _) = evaluate(&loaded, Selection::new(&data, &valid_idx), 8, &device).expect("eval");
    assert!(loss.is_finite());
}

#[test]
fn same_seed_same_run() {
    let _turn = serial();
    let data = shades(24);
    let (train_idx, valid_idx): (Vec<_>, Vec<_>) = ((0..16).collect(), (16..24).collect());
    let dir = tempfile::tempdir().expect("temp dir");
    let config = TrainConfig {
        drop_path_schedule: DropPathSchedule::Constant,
        epochs: 2,
        ..tiny_config()
    };
    let mut losses = Vec::new();
    for name in ["a", "b"] {
        let run = RunDir::create(dir.path().join(name)).expect("run dir");
        let split = TrainData {
            train: Selection::new(&data, &train_idx),
            valid: Selection::new(&data, &valid_idx),
            test: None,
        };
        <B as Backend>::seed(&Default::default(), 11);
        let outcome = train(tiny_network(), &config, split, &run, &mut Silent).expect("trains");
        losses.push(
            outcome
                .epochs
                .iter()
                .map(|e| e.train_loss)
                .collect::<Vec<_>>(),
        );
    }
    // Bit for bit on flex; ndarray sums on several threads in a varying order.
    for (a, b) in losses[0].iter().zip(&losses[1]) {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{:?}", losses);
    }
}

fn tiny_inner() -> Network<Cpu> {
    NetworkConfig::new(known::biodarts())
        .with_channels(2)
        .with_layers(3)
        .with_classes(2)
        .with_auxiliary(true)
        .with_mean([0.5; 3])
        .with_std([0.25; 3])
        .init(&Default::default())
        .expect("valid")
}

#[test]
fn missing_truncated_and_foreign_model_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = RunDir::create(dir.path().join("run")).expect("run dir");
    nas::train::save_checkpoint(&run, "best.mpk", &tiny_inner()).expect("save");
    let device = Default::default();
    let path = run.path().join("best.mpk");
    let refused = |path: &std::path::Path, model: Network<Cpu>, parts: &[&str]| {
        let err = load_checkpoint(path, model, &device).expect_err("refused");
        assert!(matches!(err, NasError::Checkpoint { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        for part in parts {
            assert!(message.contains(part), "{part:?} not in {message}");
        }
    };
    refused(
        &run.path().join("gone.mpk"),
        tiny_inner(),
        &["cannot read it"],
    );
    let bytes = std::fs::read(&path).expect("read");
    let cut = run.path().join("cut.mpk");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    refused(&cut, tiny_inner(), &[]);
    let wider = NetworkConfig::new(known::biodarts())
        .with_channels(4)
        .with_layers(3)
        .with_classes(2)
        .with_auxiliary(true)
        .init(&Default::default())
        .expect("valid");
    refused(&path, wider, &["saved from another network"]);
    load_checkpoint(&path, tiny_inner(), &device).expect("the file itself is sound");
    // One flipped bit anywhere is caught by the checksum.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    let flip = run.path().join("flip.mpk");
    std::fs::write(&flip, &flipped).expect("write");
    refused(&flip, tiny_inner(), &["checksum does not match"]);
    // A checkpoint bundle that is not a network's weights file (a training checkpoint
    // holds a `model` section too).
    let mut other = nas::checkpoint::Bundle::new();
    other.put("model", vec![0; 16]);
    let other_path = run.path().join("checkpoint-as.mpk");
    std::fs::write(&other_path, other.to_bytes()).expect("write");
    refused(
        &other_path,
        tiny_inner(),
        &["not a trained network's weights"],
    );
}

#[test]
fn a_resume_refuses_an_edited_config_json_and_never_overwrites_finished_epochs() {
    let _turn = serial();
    let data = shades(24);
    let (train_idx, valid_idx): (Vec<_>, Vec<_>) = ((0..16).collect(), (16..24).collect());
    let split = || TrainData {
        train: Selection::new(&data, &train_idx),
        valid: Selection::new(&data, &valid_idx),
        test: None,
    };
    let config = TrainConfig {
        epochs: 1,
        ..tiny_config()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run");
    let written = r#"{"network": {"rule": "fa", "channels": 2}, "note": "x"}"#;
    {
        let run = RunDir::create(&path).expect("run dir");
        std::fs::write(path.join("config.json"), written).expect("config");
        train(tiny_network(), &config, split(), &run, &mut Silent).expect("trains");
    }
    let resume = || {
        let run = RunDir::open(&path).expect("reopen");
        nas::resume_training(tiny_network(), &config, split(), &run, &mut Silent)
    };
    // Reformatting is not an edit.
    std::fs::write(path.join("config.json"), written.replace(' ', "\n")).expect("config");
    resume().expect("the same settings resume");
    let edited = r#"{"network": {"rule": "usf", "channels": 2}, "note": "x"}"#;
    std::fs::write(path.join("config.json"), edited).expect("edit");
    let err = resume().expect_err("edited");
    assert!(matches!(err, NasError::Resume { .. }), "{err:?}");
    assert!(
        err.to_string().contains(
            "config.json differs from the settings this checkpoint was written with \
                       (changed: network.rule)"
        ),
        "{err}"
    );
    std::fs::write(path.join("config.json"), written).expect("restore");
    let best = std::fs::read(path.join("best.mpk")).expect("best");
    std::fs::remove_file(path.join("checkpoint.bin")).expect("remove");
    let err = resume().expect_err("no checkpoint, finished epochs");
    assert!(matches!(err, NasError::Resume { .. }), "{err:?}");
    assert!(
        err.to_string().contains(
            "checkpoint.bin is missing but the folder holds finished epochs (metrics.csv, \
             best.mpk, last.mpk, result.json)"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(path.join("best.mpk")).expect("kept"), best);
}
