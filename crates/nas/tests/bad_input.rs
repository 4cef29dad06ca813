//! Bad genotypes, settings and checkpoints: each is refused with an error of the right
//! kind whose message names the defect (and the file, where there is one).

mod common;

use std::path::Path;

use bio_rules::LearningRule;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use nas::checkpoint::{Bundle, load_into, record_from_bytes, record_to_bytes};
use nas::{NasError, SearchConfig};
use search_space::genotype::known;
use search_space::{Genotype, SpaceError};
use serde_json::error::Category;
use serde_json::{Value, json};

use common::Cpu;

/// BIODARTS as JSON, edited by `edit`, read back.
fn edited(edit: impl FnOnce(&mut Value)) -> Result<Genotype, SpaceError> {
    let mut value: Value = serde_json::from_str(&known::biodarts().to_json()).expect("json");
    edit(&mut value);
    Genotype::from_json(&value.to_string())
}

#[track_caller]
fn message_has(err: &dyn std::fmt::Display, parts: &[&str]) {
    let text = err.to_string();
    for part in parts {
        assert!(text.contains(part), "`{part}` not in: {text}");
    }
}

#[test]
fn malformed_genotypes_name_the_cell_edge_and_defect() {
    let err = edited(|g| g["normal"]["edges"][0]["op"] = json!("conv_9x9")).expect_err("op");
    assert!(matches!(err, SpaceError::Json { .. }), "{err:?}");
    message_has(&err, &["unknown variant `conv_9x9`", "line"]);

    let err = edited(|g| g["normal"]["edges"][0]["rule"] = json!("hebbish")).expect_err("rule");
    assert!(matches!(err, SpaceError::Json { .. }), "{err:?}");
    message_has(&err, &["hebbish"]);

    let err = edited(|g| g["reduce"]["edges"][5]["input"] = json!(9)).expect_err("range");
    assert!(matches!(err, SpaceError::InputOutOfRange { .. }), "{err:?}");
    message_has(&err, &["reduce cell, edge 5", "reads state 9"]);

    let err = edited(|g| {
        g["normal"]["edges"]
            .as_array_mut()
            .expect("edges")
            .push(json!(
                {"op": "skip_connect", "input": 0}
            ))
    })
    .expect_err("count");
    assert!(
        matches!(err, SpaceError::EdgeCount { found: 9, .. }),
        "{err:?}"
    );
    message_has(&err, &["normal cell has 9 edges; expected 8"]);

    let err = edited(|g| {
        let first = g["normal"]["edges"][2]["input"].clone();
        g["normal"]["edges"][3]["input"] = first;
    })
    .expect_err("duplicate");
    assert!(
        matches!(err, SpaceError::DuplicateInput { node: 3, .. }),
        "{err:?}"
    );
    message_has(&err, &["normal cell, node 3 reads state"]);

    let err = edited(|g| g["normal"]["edges"][1]["input"] = json!("one")).expect_err("type");
    assert!(matches!(err, SpaceError::Json { .. }), "{err:?}");
    message_has(&err, &["invalid type: string \"one\", expected usize"]);

    let err = edited(|g| g["normal"]["edges"][1]["input"] = json!(-1)).expect_err("negative");
    assert!(matches!(err, SpaceError::Json { .. }), "{err:?}");
    message_has(&err, &["invalid value: integer `-1`"]);

    let err = Genotype::load("no/such/genotype.json").expect_err("missing file");
    assert!(matches!(err, SpaceError::Io { .. }), "{err:?}");
    message_has(&err, &["no/such/genotype.json"]);
}

#[test]
fn zero_negative_and_non_numeric_settings_are_refused() {
    let base = common::tiny_config;
    let refused = common::refused;
    refused(
        SearchConfig {
            batch_size: 0,
            ..base()
        },
        "batch_size",
        "must be at least 1",
    );
    refused(
        SearchConfig {
            channels: 0,
            ..base()
        },
        "channels",
        "must be at least 1",
    );
    refused(
        SearchConfig {
            epochs: 0,
            ..base()
        },
        "epochs",
        "must be at least 1",
    );
    refused(
        SearchConfig {
            rules: vec![],
            ..base()
        },
        "rules",
        "the rule set is empty: give at least one of bp, fa, usf, brsf, frsf",
    );
    refused(
        SearchConfig {
            rules: vec![LearningRule::Fa, LearningRule::Usf, LearningRule::Fa],
            ..base()
        },
        "rules",
        "the rule set names `fa` twice",
    );
    refused(
        SearchConfig {
            train_fraction: 1.5,
            ..base()
        },
        "train_fraction",
        "must lie strictly between 0 and 1",
    );
    let mut config = base();
    config.weights.lr = -0.1;
    refused(config, "weights.lr", "must be positive");
    let mut config = base();
    config.arch.lr = 0.0;
    refused(config, "arch.lr", "must be positive");
    let mut config = base();
    config.weights.momentum = f64::NAN;
    refused(
        config,
        "weights.momentum",
        "must be finite and not negative",
    );
    let mut config = base();
    config.weights.weight_decay = -3e-4;
    refused(
        config,
        "weights.weight_decay",
        "must be finite and not negative",
    );
    let mut config = base();
    config.weights.grad_clip = 0.0;
    refused(config, "weights.grad_clip", "must be positive");

    let text = serde_json::to_string(&base()).expect("json");
    for (from, to, expected) in [
        (
            "\"batch_size\":12",
            "\"batch_size\":\"twelve\"",
            "invalid type: string",
        ),
        ("\"batch_size\":12", "\"batch_size\":many", "expected value"),
        (
            "\"batch_size\":12",
            "\"batch_size\":-12",
            "invalid value: integer `-12`",
        ),
        (
            "\"channels\":2",
            "\"channels\":2.5",
            "invalid type: floating point",
        ),
        ("\"rules\":[", "\"rules\":[\"sgd\",", "sgd"),
        (
            "\"epochs\":1",
            "\"epochs\":1,\"epohcs\":2",
            "unknown field `epohcs`",
        ),
    ] {
        assert!(text.contains(from), "{from} in {text}");
        let err =
            serde_json::from_str::<SearchConfig>(&text.replacen(from, to, 1)).expect_err(expected);
        // A value of the wrong type or range is a data error; unquoted text a syntax error.
        let kind = if expected == "expected value" {
            Category::Syntax
        } else {
            Category::Data
        };
        assert_eq!(err.classify(), kind, "{err}");
        message_has(&err, &[expected, "line 1"]);
    }
}

/// FNV-1a, as the checkpoint format defines it, to forge well-framed files.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A framed file: magic, `version`, the raw `body` after the header, a valid checksum.
fn framed(version: u32, sections: u32, body: &[u8]) -> Vec<u8> {
    let mut out = b"BIONASCK".to_vec();
    out.extend(version.to_le_bytes());
    out.extend(sections.to_le_bytes());
    out.extend(body);
    let checksum = fnv1a(&out);
    out.extend(checksum.to_le_bytes());
    out
}

fn linear(outputs: usize) -> Linear<Cpu> {
    LinearConfig::new(2, outputs).init(&Default::default())
}

#[test]
fn truncated_foreign_and_oversized_checkpoints_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("checkpoint.bin");
    let mut bundle = Bundle::new();
    bundle.put(
        "model",
        record_to_bytes::<Cpu, _>(linear(3).into_record()).expect("encode"),
    );
    let bytes = bundle.to_bytes();

    let load = |bytes: &[u8]| {
        std::fs::write(&path, bytes).expect("write");
        let err = Bundle::load(&path).expect_err("refused");
        assert!(matches!(err, NasError::Checkpoint { .. }), "{err:?}");
        err
    };
    let err = load(&bytes[..bytes.len() / 2]);
    message_has(&err, &[&path.display().to_string(), "truncated"]);

    let err = load(&framed(1, 0, &[]));
    message_has(&err, &["checkpoint format version 1, expected 2"]);

    // A section that claims 2^62 bytes in a 40-byte file: refused before any allocation.
    let mut body = 5u32.to_le_bytes().to_vec();
    body.extend(b"model");
    body.extend((1u64 << 62).to_le_bytes());
    let err = load(&framed(2, 1, &body));
    message_has(
        &err,
        &[
            "truncated",
            "4611686018427387904 bytes expected at offset 33",
        ],
    );
    // Four billion sections of nothing: refused at the first missing one.
    let err = load(&framed(2, u32::MAX, &[]));
    message_has(&err, &["truncated: 4 bytes expected at offset 16"]);

    // A record from a network of another shape.
    let record = record_from_bytes::<Cpu, <Linear<Cpu> as Module<Cpu>>::Record>(
        bundle.get("model").expect("model"),
        &Default::default(),
        &path,
        "model",
    )
    .expect("decodes");
    let err = load_into(linear(4), record, &path, "model").expect_err("another network");
    assert!(matches!(err, NasError::Checkpoint { .. }), "{err:?}");
    message_has(
        &err,
        &[
            "saved from another network",
            "[2, 3] in the file, [2, 4] here",
        ],
    );
}

/// Inside a record, a byte buffer whose length prefix says 2^40 bytes: the decoder must
/// refuse it, not try to allocate a terabyte.
#[test]
fn a_record_that_claims_a_huge_buffer_is_refused() {
    let path = Path::new("run/checkpoint.bin");
    let model = linear(3);
    let weight = model.weight.val().into_data().to_vec::<f32>().expect("f32");
    let bytes = record_to_bytes::<Cpu, _>(model.into_record()).expect("encode");
    // The weight, 2 x 3 f32 = 24 bytes, is stored as a length (24), then the bytes.
    let needle: Vec<u8> = weight.iter().flat_map(|w| w.to_le_bytes()).collect();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("the weight's bytes are in the record")
        - 1;
    assert_eq!(bytes[at], 24, "bincode writes the length 24 as one byte");
    let mut forged = bytes[..at].to_vec();
    forged.push(0xfd); // a u64 length follows
    forged.extend((1u64 << 40).to_le_bytes());
    forged.extend(&bytes[at + 1..]);
    type R = <Linear<Cpu> as Module<Cpu>>::Record;
    let Err(err) = record_from_bytes::<Cpu, R>(&forged, &Default::default(), path, "model") else {
        panic!(
            "a 2^40-byte buffer in a {}-byte record was accepted",
            forged.len()
        );
    };
    assert!(matches!(err, NasError::Checkpoint { .. }), "{err:?}");
    message_has(
        &err,
        &[
            "run/checkpoint.bin",
            "model",
            "larger than the record itself",
        ],
    );
}

/// Found by the `checkpoint` fuzz target, each crashed the process: a record whose first
/// string claims about 8 exabytes (Burn's loader allocated what it claimed); a tensor shape
/// of 2^61 dimensions (reserved up front); a shape of 285 million elements over a few
/// bytes stored as `i8` (converted to `f32` into a buffer sized by the shape).
#[test]
fn records_with_absurd_lengths_are_refused() {
    for (name, reason) in [
        (
            "record_huge_string_length",
            "a length inside it is larger than the record",
        ),
        ("record_shape_of_2_61_dims", "ends before the record does"),
        (
            "record_shape_far_beyond_its_bytes",
            "a tensor's shape holds 285212672 elements but its data only 99 bytes",
        ),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fuzz")
            .join(name);
        let bytes = std::fs::read(&path).expect("fixture");
        type R = burn::module::Param<burn::tensor::Tensor<Cpu, 2>>;
        let err = record_from_bytes::<Cpu, R>(&bytes, &Default::default(), &path, "model")
            .expect_err("refused");
        assert!(matches!(err, NasError::Checkpoint { .. }), "{err:?}");
        message_has(&err, &[name, "damaged", reason]);
    }
}

/// Found by the `checkpoint` fuzz target: a tensor whose byte buffer is not a whole number
/// of elements of its stored type. Burn's conversion panicked while decoding.
#[test]
fn a_record_whose_buffer_does_not_fit_its_type_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz/record_buffer_not_whole_elements");
    let bytes = std::fs::read(&path).expect("fixture");
    type R = burn::module::Param<burn::tensor::Tensor<Cpu, 2>>;
    let err = record_from_bytes::<Cpu, R>(&bytes, &Default::default(), &path, "model")
        .expect_err("refused");
    assert!(matches!(err, NasError::Checkpoint { .. }), "{err:?}");
    message_has(&err, &["record_buffer_not_whole_elements", "damaged"]);
}

#[test]
fn divergence_advice_names_the_run_s_own_learning_rates() {
    let diverged = |phase| NasError::Diverged {
        phase,
        epoch: 2,
        step: 5,
        value: f32::NAN,
    };
    for (phase, settings) in [
        ("weight", "weights.lr or arch.lr"),
        ("architecture", "weights.lr or arch.lr"),
        ("search validation", "weights.lr or arch.lr"),
        ("training", "lr"),
        ("validation", "lr"),
    ] {
        assert_eq!(
            diverged(phase).to_string(),
            format!(
                "the {phase} loss became NaN at epoch 2, step 5; try a lower learning rate \
                 ({settings}), a smaller grad_clip, or another seed"
            )
        );
    }
}
