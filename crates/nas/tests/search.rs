//! The search loop: what each step updates, the run folder, divergence, clipping.

mod common;

use common::Cpu;

use bio_rules::LearningRule;
use burn::backend::Autodiff;
use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use nas::{NasError, RunDir, Silent, clip_global_norm, search};

type Ad = Autodiff<Cpu>;

#[test]
fn a_search_writes_its_run_folder() {
    let config = common::tiny_config();
    let data = common::tiny_data(&config);
    assert_eq!((data.weights.len(), data.arch.len()), (24, 24));
    let dir = tempfile::tempdir().expect("temp dir");
    let run = RunDir::create(dir.path().join("run")).expect("run dir");
    let outcome =
        search::<Ad>(&config, &data, &Default::default(), Some(&run), &mut Silent).expect("search");
    assert_eq!(outcome.reports.len(), 1);
    let report = &outcome.reports[0];
    assert!(report.train_loss.is_finite() && report.valid_loss.is_finite());
    assert!((0.0..=1.0).contains(&report.valid_acc));
    // α moved away from its 1e-3 initialisation.
    assert!(
        report.alpha_max_abs > 1e-3,
        "max |α| {}",
        report.alpha_max_abs
    );
    let saved = search_space::Genotype::load(run.path().join("genotype.json")).expect("genotype");
    let cells = std::fs::read_to_string(run.path().join("cells.svg")).expect("cells.svg");
    assert!(cells.contains("normal cell") && cells.contains("reduction cell"));
    assert_eq!(saved, outcome.genotype);
    let config_text = std::fs::read_to_string(run.path().join("config.json")).expect("config");
    let back: nas::SearchConfig = serde_json::from_str(&config_text).expect("config parses");
    assert_eq!(back, config);
    let csv = std::fs::read_to_string(run.path().join("metrics.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 2, "header and one epoch");
    // A second run may not reuse the folder: refused while the first holds it, and after.
    let again = RunDir::create(run.path());
    assert!(matches!(again, Err(NasError::Busy { .. })));
    let path = run.path().to_path_buf();
    drop(run);
    let again = RunDir::create(&path);
    assert!(matches!(again, Err(NasError::OutputExists { .. })));
}

/// With probes on, the run folder holds per-layer angles, per-rule means and the picture;
/// DFA and Hebbian candidates take part in the search.
#[test]
fn alignment_probes_write_angles_and_a_picture() {
    let mut config = common::tiny_config();
    config.rules = vec![
        LearningRule::Fa,
        LearningRule::Usf,
        LearningRule::Dfa,
        LearningRule::Hebbian,
    ];
    config.alignment_every = 1;
    let data = common::tiny_data(&config);
    let dir = tempfile::tempdir().expect("temp dir");
    let run = RunDir::create(dir.path().join("run")).expect("run dir");
    let outcome =
        search::<Ad>(&config, &data, &Default::default(), Some(&run), &mut Silent).expect("search");
    assert_eq!(
        outcome.alignment.samples.len(),
        2,
        "both weight steps (24 images, batch 12)"
    );
    let sample = &outcome.alignment.samples[0];
    let classifier = sample
        .layers
        .iter()
        .find(|l| l.layer == "classifier")
        .expect("classifier");
    // Nothing sits above the classifier: its error is the same in both passes (angles of
    // f32 vectors that agree come out at a few hundredths of a degree).
    assert!(classifier.gradient_angle.expect("angle") < 0.5);
    for layer in &sample.layers {
        if let Some(a) = layer.gradient_angle {
            assert!((0.0..=180.0).contains(&a), "{layer:?}");
        }
        match layer.rule {
            LearningRule::Dfa => {
                assert!(layer.weight_angle.is_none());
                let angle = layer.gradient_angle.expect("a DFA layer sends an error");
                assert!(angle > 1.0, "DFA's error is not BP's: {layer:?}");
            }
            LearningRule::Hebbian => {
                assert!(layer.weight_angle.is_none());
                assert!(
                    layer.gradient_angle.is_none(),
                    "a Hebbian layer sends nothing"
                );
            }
            LearningRule::Bp => assert!(layer.weight_angle.expect("angle") < 0.5),
            _ => assert!(layer.weight_angle.is_some(), "{layer:?}"),
        }
    }
    let means = sample.by_rule();
    let fa = means
        .iter()
        .find(|m| m.rule == LearningRule::Fa)
        .expect("fa");
    let usf = means
        .iter()
        .find(|m| m.rule == LearningRule::Usf)
        .expect("usf");
    // Random feedback is far from W; signs of W are close to it.
    assert!(fa.weight_angle.expect("fa") > usf.weight_angle.expect("usf") + 20.0);
    let rows = std::fs::read_to_string(run.path().join("alignment.csv")).expect("csv");
    assert_eq!(rows.lines().count(), 1 + 2 * sample.layers.len());
    let rules = std::fs::read_to_string(run.path().join("alignment_rules.csv")).expect("csv");
    assert!(rules.lines().any(|l| l.contains(",dfa,")));
    let svg = std::fs::read_to_string(run.path().join("alignment.svg")).expect("svg");
    assert!(svg.contains("usf (mean)") && svg.trim_end().ends_with("</svg>"));
}

#[test]
fn a_diverging_loss_stops_with_a_clear_error() {
    let mut config = common::tiny_config();
    config.weights.lr = 1e30;
    config.weights.grad_clip = 1e30;
    config.rules = vec![LearningRule::Usf];
    let data = common::tiny_data(&config);
    let err = search::<Ad>(&config, &data, &Default::default(), None, &mut Silent)
        .expect_err("a learning rate of 1e30 diverges");
    assert!(matches!(err, NasError::Diverged { epoch: 0, .. }), "{err}");
    assert!(
        err.to_string().contains("try a lower learning rate"),
        "{err}"
    );
}

#[test]
fn a_search_diverging_after_a_good_epoch_keeps_that_epoch_checkpoint() {
    // The cosine schedule climbs from 0.01 to 5e29 in epoch 1 (of 2): epoch 0 is sound.
    let mut config = common::tiny_config();
    config.epochs = 2;
    config.weights.lr = 0.01;
    config.weights.lr_min = 1e30;
    config.rules = vec![LearningRule::Bp];
    let data = common::tiny_data(&config);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run");
    let err = {
        let run = RunDir::create(&path).expect("run dir");
        search::<Ad>(&config, &data, &Default::default(), Some(&run), &mut Silent)
            .expect_err("a learning rate of 5e29 diverges")
    };
    let NasError::Diverged { epoch, value, .. } = &err else {
        panic!("expected Diverged, got {err}")
    };
    assert_eq!(*epoch, 1, "{err}");
    assert!(!value.is_finite());
    let message = err.to_string();
    assert!(
        message.contains("at epoch 1")
            && message.contains("try a lower learning rate (weights.lr or arch.lr)"),
        "{message}"
    );
    let metrics = std::fs::read_to_string(path.join("metrics.csv")).expect("metrics");
    assert_eq!(metrics.lines().count(), 2, "header and epoch 0: {metrics}");
    let saved = search_space::Genotype::load(path.join("genotype.json")).expect("epoch 0");
    // The checkpoint is epoch 0's: resuming loads it, redoes epoch 1 and diverges there again.
    let again = nas::resume::<Ad>(&path, &data, &Default::default(), &mut Silent)
        .expect_err("the same settings diverge again");
    assert!(
        matches!(again, NasError::Diverged { epoch: 1, .. }),
        "{again}"
    );
    let log = std::fs::read_to_string(path.join("log.txt")).expect("log");
    assert!(log.contains("resumed at epoch 1"), "{log}");
    assert_eq!(
        search_space::Genotype::load(path.join("genotype.json")).expect("kept"),
        saved
    );
}

#[test]
fn invalid_settings_are_refused_before_any_work() {
    let mut config = common::tiny_config();
    config.batch_size = 0;
    let data = common::tiny_data(&common::tiny_config());
    let err = search::<Ad>(&config, &data, &Default::default(), None, &mut Silent)
        .expect_err("batch size 0");
    assert!(
        matches!(
            err,
            NasError::Config {
                setting: "batch_size",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid setting `batch_size`: must be at least 1"
    );
}

#[derive(Module, Debug)]
struct Two<B: burn::tensor::backend::Backend> {
    a: Param<Tensor<B, 1>>,
    b: Param<Tensor<B, 2>>,
}

/// Gradients (3, 4) and ((0, 12)) have global norm 13; clipped to 6.5 they halve.
#[test]
fn clipping_scales_by_the_global_norm() {
    let device = Default::default();
    let model = Two::<Ad> {
        a: Param::from_tensor(Tensor::from_floats([1.0, 1.0], &device)),
        b: Param::from_tensor(Tensor::from_floats([[1.0, 1.0]], &device)),
    };
    let loss = (model.a.val() * Tensor::from_floats([3.0, 4.0], &device)).sum()
        + (model.b.val() * Tensor::from_floats([[0.0, 12.0]], &device)).sum();
    let mut grads = GradientsParams::from_grads::<Ad, _>(loss.backward(), &model);
    let norm = clip_global_norm::<Ad, _>(&model, &mut grads, 6.5);
    assert!((norm - 13.0).abs() < 1e-5);
    let a = grads
        .get::<Cpu, 1>(model.a.id)
        .expect("a")
        .into_data()
        .to_vec::<f32>();
    let b = grads
        .get::<Cpu, 2>(model.b.id)
        .expect("b")
        .into_data()
        .to_vec::<f32>();
    let (a, b) = (a.expect("floats"), b.expect("floats"));
    for (got, want) in a.iter().chain(&b).zip([1.5, 2.0, 0.0, 6.0]) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
    // Below the limit nothing changes.
    let norm = clip_global_norm::<Ad, _>(&model, &mut grads, 100.0);
    assert!((norm - 6.5).abs() < 1e-4);
}
