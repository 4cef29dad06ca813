//! Each search strategy finds a genotype on the repository's sample.

mod common;

use common::Cpu;

use burn::backend::Autodiff;
use nas::{EgNasConfig, RandomConfig, RunDir, SearchConfig, Silent, Strategy, search};
use std::sync::Mutex;

type Ad = Autodiff<Cpu>;

/// The backend's generator is shared by the process: one search at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn run_strategy(config: &SearchConfig) -> (nas::SearchOutcome<Ad>, tempfile::TempDir) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let data = common::tiny_data(config);
    let dir = tempfile::tempdir().expect("temp dir");
    let run = RunDir::create(dir.path().join("run")).expect("run dir");
    let outcome =
        search::<Ad>(config, &data, &Default::default(), Some(&run), &mut Silent).expect("search");
    (outcome, dir)
}

fn check_folder(dir: &tempfile::TempDir, outcome: &nas::SearchOutcome<Ad>) {
    let run = dir.path().join("run");
    let saved = search_space::Genotype::load(run.join("genotype.json")).expect("genotype");
    assert_eq!(saved, outcome.genotype);
    saved.validate().expect("a valid genotype");
    for file in [
        "cells.svg",
        "cells.dot",
        "curves.svg",
        "metrics.csv",
        "log.txt",
    ] {
        let text = std::fs::read_to_string(run.join(file)).expect(file);
        assert!(!text.is_empty(), "{file} is empty");
    }
}

#[test]
fn second_order_darts_finds_a_genotype() {
    let config = SearchConfig {
        strategy: Strategy::DartsSecondOrder,
        ..common::tiny_config()
    };
    let (outcome, dir) = run_strategy(&config);
    let report = &outcome.reports[0];
    assert!(report.arch_loss.is_finite() && report.valid_loss.is_finite());
    assert!(
        report.alpha_max_abs > 1e-3,
        "α moved: {}",
        report.alpha_max_abs
    );
    check_folder(&dir, &outcome);
    assert!(dir.path().join("run/checkpoint.bin").exists());
}

#[test]
fn eg_nas_with_partial_channels_finds_a_genotype() {
    let config = SearchConfig {
        epochs: 2,
        channels: 4,
        partial_channels: 2,
        strategy: Strategy::EgNas(EgNasConfig {
            warmup_epochs: 1,
            population: 4,
            ..EgNasConfig::default()
        }),
        ..common::tiny_config()
    };
    let (outcome, dir) = run_strategy(&config);
    let [warm, evolved] = [&outcome.reports[0], &outcome.reports[1]];
    // Edge normalisation keeps the bypassed channels from piling up node after node: the
    // loss starts near ln 10.
    assert!(warm.train_loss < 2.6, "train loss {}", warm.train_loss);
    // Warm-up leaves α at its N(0, 1e-3) start; the CMA-ES generations move it.
    assert!(
        warm.alpha_max_abs < 1e-2,
        "warm-up moved α: {}",
        warm.alpha_max_abs
    );
    assert!(evolved.alpha_max_abs > warm.alpha_max_abs * 2.0);
    assert!(evolved.alpha_entropy < warm.alpha_entropy);
    check_folder(&dir, &outcome);
}

#[test]
fn random_search_keeps_the_best_sample() {
    let config = SearchConfig {
        strategy: Strategy::Random(RandomConfig {
            samples: 3,
            epochs: 1,
        }),
        ..common::tiny_config()
    };
    let (outcome, dir) = run_strategy(&config);
    assert_eq!(outcome.reports.len(), 3);
    assert!(outcome.supernet.is_none());
    let best = outcome
        .reports
        .iter()
        .map(|r| r.valid_acc)
        .fold(f64::NEG_INFINITY, f64::max);
    let chosen = outcome
        .reports
        .iter()
        .find(|r| r.genotype == outcome.genotype.to_string())
        .expect("the chosen genotype is one of the samples");
    assert_eq!(chosen.valid_acc, best);
    // Samples differ.
    assert_ne!(outcome.reports[0].genotype, outcome.reports[1].genotype);
    for i in 0..3 {
        let trial = dir.path().join(format!("run/trials/{i:03}/metrics.csv"));
        assert!(trial.exists(), "{}", trial.display());
    }
    check_folder(&dir, &outcome);
}

#[test]
fn unknown_strategies_and_bad_settings_are_refused() {
    let text = r#"{"strategy": {"kind": "evolution"}}"#;
    let err = serde_json::from_str::<SearchConfig>(text).expect_err("refused");
    assert_eq!(err.classify(), serde_json::error::Category::Data, "{err}");
    assert!(
        err.to_string().contains("unknown variant `evolution`"),
        "{err}"
    );
    let text = r#"{"strategy": {"kind": "eg_nas", "population": 6, "sigma": 0.1}}"#;
    let config: SearchConfig = serde_json::from_str(text).expect("parses");
    let Strategy::EgNas(eg) = &config.strategy else {
        panic!("not EG-NAS: {:?}", config.strategy)
    };
    assert_eq!((eg.population, eg.sigma, eg.every), (6, 0.1, 1));
    let bad = SearchConfig {
        strategy: Strategy::EgNas(EgNasConfig {
            population: 1,
            ..EgNasConfig::default()
        }),
        ..common::tiny_config()
    };
    common::refused(bad, "strategy.population", "must be at least 2");
    for text in [
        r#"{"strategy": {"kind": "darts", "partial_channels": 2}}"#,
        r#"{"strategy": {"kind": "darts_second_order", "population": 3}}"#,
    ] {
        let err = serde_json::from_str::<SearchConfig>(text).expect_err("refused");
        assert_eq!(err.classify(), serde_json::error::Category::Data, "{err}");
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
    let text = r#"{"strategy": {"kind": "darts_second_order"}}"#;
    let config: SearchConfig = serde_json::from_str(text).expect("parses");
    assert_eq!(config.strategy, Strategy::DartsSecondOrder);
    let json = serde_json::to_string(&config).expect("writes");
    assert!(
        json.contains(r#""strategy":{"kind":"darts_second_order"}"#),
        "{json}"
    );
    let never = SearchConfig {
        epochs: 2,
        strategy: Strategy::EgNas(EgNasConfig {
            warmup_epochs: 2,
            ..EgNasConfig::default()
        }),
        ..common::tiny_config()
    };
    common::refused(
        never,
        "strategy.warmup_epochs",
        "must be below epochs, or no CMA-ES generation ever runs",
    );
    let random_pc = SearchConfig {
        partial_channels: 2,
        channels: 4,
        strategy: Strategy::Random(RandomConfig::default()),
        ..common::tiny_config()
    };
    common::refused(
        random_pc,
        "partial_channels",
        "random search trains final networks, which have no partial channels",
    );
    let bad = SearchConfig {
        channels: 6,
        partial_channels: 4,
        ..common::tiny_config()
    };
    common::refused(
        bad,
        "partial_channels",
        "must be at least 1 and divide channels",
    );
}

#[test]
fn darts_searches_the_nas_bench_201_cell() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = SearchConfig {
        channels: 4,
        layers: 1,
        space: nas::SpaceKind::Nb201,
        ..common::tiny_config()
    };
    let data = common::tiny_data(&config);
    let dir = tempfile::tempdir().expect("temp dir");
    let run = RunDir::create(dir.path().join("run")).expect("run dir");
    let device = Default::default();
    let outcome =
        nas::search_nb201::<Ad>(&config, &data, &device, Some(&run), &mut Silent).expect("search");
    let text = outcome.genotype.to_string();
    assert!(text.starts_with('|') && text.ends_with('|'), "{text}");
    let back: search_space::Nb201Genotype = text.parse().expect("the string reads back");
    assert_eq!(back, outcome.genotype);
    let saved = std::fs::read_to_string(run.path().join("genotype.json")).expect("json");
    let saved = search_space::Nb201Genotype::from_json(&saved).expect("valid");
    assert_eq!(saved, outcome.genotype);
    assert!(outcome.reports[0].alpha_max_abs > 1e-3);
    let cells = std::fs::read_to_string(run.path().join("cells.svg")).expect("svg");
    assert!(cells.contains("<svg"));
    // EG-NAS moves the NB201 α too.
    let evolution = SearchConfig {
        strategy: Strategy::EgNas(EgNasConfig {
            warmup_epochs: 0,
            population: 3,
            ..EgNasConfig::default()
        }),
        ..config.clone()
    };
    let evolved = nas::search_nb201::<Ad>(&evolution, &data, &device, None, &mut Silent)
        .expect("EG-NAS in the NB201 space");
    assert!(evolved.reports[0].alpha_max_abs > 1e-2);
    // The DARTS entry point refuses an NB201 configuration, and the other way round.
    let err = search::<Ad>(&config, &data, &device, None, &mut Silent).expect_err("refused");
    assert!(err.to_string().contains("search_nb201"), "{err}");
}
