//! The `bionas` binary, run as a user would: help texts, genotype drawing and import,
//! layered settings, errors on bad input, and a tiny train → eval → attack round trip on
//! the CIFAR-10 sample.

use bionas::nas::SearchConfig;
use bionas::search_space::Genotype;
use bionas::search_space::genotype::known;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `args` in `dir`.
fn bionas_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bionas"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the bionas binary runs")
}

/// Runs the binary with `args` in the crate's folder.
fn bionas(args: &[&str]) -> Output {
    bionas_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that the command failed with exit code 1 (not a panic's 101), printed an error
/// that contains every one of `needles`, and did not panic.
fn assert_fails_with(output: &Output, needles: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("error: "), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
}

fn assert_ok(output: &Output) {
    assert!(output.status.success(), "stderr: {}", stderr(output));
}

#[test]
fn every_command_has_help_with_examples() {
    let top = bionas(&["--help"]);
    assert_ok(&top);
    assert!(stdout(&top).contains("Examples:"));
    for command in ["show", "import", "search", "train", "eval", "attack"] {
        let help = bionas(&[command, "--help"]);
        assert_ok(&help);
        let text = stdout(&help);
        assert!(text.contains("Examples:"), "{command}: {text}");
        assert!(
            text.contains(&format!("bionas {command}")),
            "{command}: {text}"
        );
    }
}

#[test]
fn show_prints_darts_form_and_writes_pictures() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let output = bionas_in(
        dir.path(),
        &[
            "show",
            "biodarts",
            "--out",
            "cells.svg",
            "--dot",
            "cells.dot",
        ],
    );
    assert_ok(&output);
    assert_eq!(stdout(&output).trim(), known::biodarts().to_string());
    let svg = std::fs::read_to_string(dir.path().join("cells.svg")).expect("svg written");
    assert!(svg.starts_with("<svg") && svg.contains("reduction cell"));
    let dot = std::fs::read_to_string(dir.path().join("cells.dot")).expect("dot written");
    assert_eq!(dot, known::biodarts().to_dot());
}

#[test]
fn show_reads_darts_text_files_and_rejects_bad_ones() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let good = dir.path().join("darts_v2.txt");
    std::fs::write(&good, known::darts_v2().to_string()).expect("write");
    let output = bionas_in(dir.path(), &["show", "darts_v2.txt", "--dot", "-"]);
    assert_ok(&output);
    assert!(stdout(&output).contains("digraph"));
    std::fs::write(dir.path().join("bad.txt"), "Genotype(normal=[").expect("write");
    assert_fails_with(&bionas_in(dir.path(), &["show", "bad.txt"]), &["bad.txt"]);
    let missing = bionas_in(dir.path(), &["show", "missing.json"]);
    assert_fails_with(&missing, &["missing.json", "biodarts"]);
    // A JSON genotype that parses but does not validate is named with its defect.
    let mut seven = known::biodarts();
    seven.normal.edges.pop();
    let json = serde_json::to_string(&seven).expect("json");
    std::fs::write(dir.path().join("seven.json"), &json).expect("write");
    let output = bionas_in(dir.path(), &["show", "seven.json"]);
    assert_fails_with(&output, &["seven.json: not a valid genotype", "7 edges"]);
    // An editor's byte-order mark is not part of the genotype.
    let bom = format!("\u{feff}{}", known::darts_v2().to_json());
    std::fs::write(dir.path().join("bom.json"), bom).expect("write");
    assert_ok(&bionas_in(dir.path(), &["show", "bom.json"]));
}

#[test]
fn import_turns_darts_text_into_json() {
    let text = known::biodarts().to_string();
    let output = bionas(&["import", &text]);
    assert_ok(&output);
    let genotype = Genotype::from_json(&stdout(&output)).expect("genotype JSON");
    assert_eq!(genotype, known::biodarts());

    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::write(dir.path().join("g.txt"), &text).expect("write");
    let output = bionas_in(dir.path(), &["import", "g.txt", "--out", "g.json"]);
    assert_ok(&output);
    let saved = Genotype::load(dir.path().join("g.json")).expect("saved JSON");
    assert_eq!(saved, known::biodarts());
}

#[test]
fn import_reads_nas_bench_201_strings() {
    let arch = "|nor_conv_3x3_fa~0|+|skip_connect~0|nor_conv_1x1_u~1|+|none~0|\
                avg_pool_3x3~1|nor_conv_3x3~2|";
    let output = bionas(&["import", arch]);
    assert_ok(&output);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let edges = json["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 6);
    assert_eq!(edges[0]["rule"], "fa");
    assert_eq!(edges[5]["rule"], "bp");
}

#[test]
fn import_rejects_malformed_input() {
    let unknown_rule = "Genotype(normal=[('sep_conv_3x3_q', 0)])";
    assert_fails_with(
        &bionas(&["import", unknown_rule]),
        &["unknown rule suffix `_q`"],
    );
    let short = bionas(&["import", "|nor_conv_3x3~0|+|"]);
    assert_fails_with(&short, &["NAS-Bench-201"]);
    let neither = bionas(&["import", "no-such-file.txt"]);
    assert_fails_with(&neither, &["no-such-file.txt", "neither a file nor"]);
}

#[test]
fn search_settings_come_from_preset_then_file_then_flags() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = "epochs = 3\nchannels = 6\n\n[weights]\nlr = 0.05\n";
    std::fs::write(dir.path().join("search.toml"), file).expect("write");
    let args = [
        "search",
        "--config",
        "search.toml",
        "--epochs",
        "1",
        "--print-config",
    ];
    let output = bionas_in(dir.path(), &args);
    assert_ok(&output);
    let config: SearchConfig = serde_json::from_str(&stdout(&output)).expect("config JSON");
    let preset = SearchConfig::quick();
    assert_eq!(config.epochs, 1, "the flag wins over the file");
    assert_eq!(config.channels, 6, "the file wins over the preset");
    assert!((config.weights.lr - 0.05).abs() < 1e-12);
    assert_eq!(
        config.weights.lr_min, preset.weights.lr_min,
        "kept from the preset"
    );
    assert_eq!(config.layers, preset.layers);
    assert_eq!(config.train_subset, preset.train_subset);
}

#[test]
fn malformed_config_files_are_named_with_the_defect() {
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::write(dir.path().join("typo.json"), "{\n  \"epoch\": 3\n}").expect("write");
    let output = bionas_in(dir.path(), &["search", "--config", "typo.json"]);
    assert_fails_with(&output, &["typo.json", "unknown field `epoch`", "line 2"]);
    std::fs::write(dir.path().join("bad.toml"), "[train]\nepochs = \"x\"\n").expect("write");
    let output = bionas_in(dir.path(), &["train", "--config", "bad.toml"]);
    assert_fails_with(&output, &["bad.toml", "line 2"]);
    let output = bionas_in(dir.path(), &["train", "--config", "absent.toml"]);
    assert_fails_with(&output, &["absent.toml"]);
}

#[test]
fn train_settings_layer_and_check() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = "[network]\nchannels = 4\ncells = 3\n\n[train]\nepochs = 2\nlr = 0.1\n";
    std::fs::write(dir.path().join("train.toml"), file).expect("write");
    let args = [
        "train",
        "--config",
        "train.toml",
        "--epochs",
        "1",
        "--print-config",
    ];
    let output = bionas_in(dir.path(), &args);
    assert_ok(&output);
    let setup: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(setup["train"]["epochs"], 1);
    assert_eq!(setup["train"]["lr"], 0.1);
    assert_eq!(setup["network"]["channels"], 4);
    assert_eq!(setup["train"]["batch_size"], 32, "the quick preset's");
    let output = bionas_in(dir.path(), &["train", "--dataset", "cifar100"]);
    assert_fails_with(&output, &["--data", "cifar100"]);
    let output = bionas_in(dir.path(), &["train", "--genotype", "nope.json"]);
    assert_fails_with(&output, &["nope.json"]);
    let output = bionas_in(dir.path(), &["eval", "."]);
    assert_fails_with(&output, &["config.json"]);
}

#[test]
fn train_then_eval_then_attack_on_the_sample() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let train = [
        "train",
        "--channels",
        "4",
        "--cells",
        "3",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--train-subset",
        "100",
        "--out",
        "run",
    ];
    let output = bionas_in(dir.path(), &train);
    assert_ok(&output);
    assert!(stdout(&output).contains("test acc"));
    let run = dir.path().join("run");
    for file in [
        "config.json",
        "genotype.json",
        "cells.svg",
        "best.mpk",
        "last.mpk",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }

    let output = bionas_in(dir.path(), &["eval", "run", "--checkpoint", "last"]);
    assert_ok(&output);
    let text = stdout(&output);
    assert!(
        text.contains("valid: accuracy") && text.contains("test: accuracy"),
        "{text}"
    );
    let report = std::fs::read_to_string(run.join("eval-last.json")).expect("eval report");
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON");
    assert_eq!(report["test"]["images"], 200);
    assert_eq!(report["valid"]["images"], 10);

    let attack = [
        "attack", "run", "--attack", "fgsm", "--eps", "0,8", "--images", "8",
    ];
    let output = bionas_in(dir.path(), &attack);
    assert_ok(&output);
    let csv = std::fs::read_to_string(run.join("attack-fgsm.csv")).expect("attack CSV");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("rule gradients,FGSM,0,"))
    );
    assert!(run.join("attack-fgsm.svg").is_file());
}

/// The metrics of a run folder without the two timing columns.
fn metrics_without_timing(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).expect("metrics.csv");
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            fields[..fields.len() - 2].join(",")
        })
        .collect()
}

/// A search killed with SIGKILL in the middle of an epoch, then resumed, ends with the
/// genotype and metrics of an uninterrupted run.
#[test]
fn a_search_killed_with_sigkill_resumes_to_the_same_result() {
    let root = tempfile::tempdir().expect("temp dir");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/cifar10-mini");
    let sample = sample.to_str().expect("utf-8 path");
    let settings = [
        "search",
        "--data",
        sample,
        "--channels",
        "2",
        "--cells",
        "3",
        "--train-subset",
        "48",
        "--batch-size",
        "12",
        "--epochs",
        "3",
        "--seed",
        "11",
        "--out",
    ];
    let whole = root.path().join("whole");
    let mut args = settings.to_vec();
    args.push(whole.to_str().expect("utf-8"));
    assert_ok(&bionas_in(root.path(), &args));

    let cut = root.path().join("cut");
    let mut args = settings.to_vec();
    args.push(cut.to_str().expect("utf-8"));
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bionas"))
        .args(&args)
        .current_dir(root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    while !cut.join("checkpoint.bin").exists() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "finished too early"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // While it runs the folder is taken: a resume or a second search there is refused.
    let holder = format!("process {}", child.id());
    let cut_path = cut.to_str().expect("utf-8");
    let busy = bionas_in(root.path(), &["search", "--resume", cut_path]);
    assert_fails_with(&busy, &["in use by another run", &holder]);
    let mut args = settings.to_vec();
    args.push(cut_path);
    assert_fails_with(&bionas_in(root.path(), &args), &["in use by another run"]);
    // About a third into the second epoch.
    std::thread::sleep(started.elapsed() / 3);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let lines = metrics_without_timing(&cut).len();
    assert!(
        lines < 4,
        "the run was killed before its end ({lines} lines)"
    );

    let resumed = bionas_in(
        root.path(),
        &["search", "--resume", cut.to_str().expect("utf-8")],
    );
    assert_ok(&resumed);
    assert!(stdout(&resumed).contains("resuming"));
    let genotype = |dir: &Path| Genotype::load(dir.join("genotype.json")).expect("genotype");
    assert_eq!(genotype(&cut), genotype(&whole));
    assert_eq!(metrics_without_timing(&cut), metrics_without_timing(&whole));
    let log = std::fs::read_to_string(cut.join("log.txt")).expect("log");
    assert!(log.contains("resumed at epoch"), "{log}");
    for picture in ["cells.svg", "curves.svg"] {
        assert!(cut.join(picture).exists(), "{picture}");
    }
}

#[test]
fn strategy_flags_are_checked() {
    let out = bionas(&["search", "--strategy", "darts2", "--print-config"]);
    assert_ok(&out);
    let config: SearchConfig = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(config.strategy, bionas::nas::Strategy::DartsSecondOrder);
    let out = bionas(&[
        "search",
        "--strategy",
        "eg-nas",
        "--population",
        "6",
        "--partial-channels",
        "2",
        "--print-config",
    ]);
    assert_ok(&out);
    let config: SearchConfig = serde_json::from_str(&stdout(&out)).expect("json");
    let bionas::nas::Strategy::EgNas(eg) = config.strategy else {
        panic!("not EG-NAS")
    };
    assert_eq!((eg.population, config.partial_channels), (6, 2));
    let out = bionas(&["search", "--population", "6", "--print-config"]);
    assert_fails_with(&out, &["--population", "eg-nas"]);
    for extra in [
        ["--epochs", "5"],
        ["--strategy", "darts2"],
        ["--print-config", "--seed"],
    ] {
        let mut args = vec!["search", "--resume", "some/run"];
        args.extend(extra);
        if extra[0] == "--print-config" {
            args.truncate(4);
        }
        let out = bionas(&args);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("cannot be used with"),
            "{}",
            stderr(&out)
        );
    }
    let out = bionas(&["train", "--resume", "some/run", "--lr", "0.5"]);
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    let out = bionas(&["search", "--resume", "/nonexistent/run"]);
    assert_fails_with(&out, &["/nonexistent/run", "config.json"]);
}

/// A batch too large for the memory budget ends with a message that names the setting,
/// not with the kernel's silent kill.
#[test]
fn a_batch_past_the_memory_budget_names_the_setting() {
    for (command, task) in [("search", "the search"), ("train", "training")] {
        let root = tempfile::tempdir().expect("temp dir");
        let out = root.path().join("run");
        let output = Command::new(env!("CARGO_BIN_EXE_bionas"))
            .args([command, "--channels", "8", "--cells", "3"])
            .args([
                "--train-subset",
                "400",
                "--batch-size",
                "200",
                "--epochs",
                "1",
            ])
            .arg("--out")
            .arg(&out)
            .env("BIONAS_MEMORY_LIMIT", MEMORY_LIMIT)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("the bionas binary runs");
        let err = stderr(&output);
        assert!(!output.status.success(), "{command} stderr: {err}");
        // Rust ends a process whose allocation fails with SIGABRT, after the message.
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                output.status.signal(),
                Some(6),
                "{command}: {:?}",
                output.status
            );
        }
        for part in [
            &format!("error: out of memory: {task} holds"),
            "past its budget of 120 MiB",
            "batch_size = 200, the --batch-size flag",
            "the last checkpoint is intact",
            "BIONAS_MEMORY_LIMIT",
        ] {
            assert!(err.contains(part), "{command}: {part:?} not in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.matches("out of memory").count(), 1, "said once: {err}");
    }
}

#[test]
fn a_memory_limit_that_is_not_a_size_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_bionas"))
        .args(["show", "biodarts", "--out"])
        .arg(dir.path().join("cells.svg"))
        .env("BIONAS_MEMORY_LIMIT", "lots")
        .output()
        .expect("the bionas binary runs");
    assert_ok(&output);
    assert!(
        stderr(&output).contains(
            "warning: BIONAS_MEMORY_LIMIT=\"lots\" is not a size (bytes, or with a K, M or G \
             suffix, e.g. 12G); no memory budget is enforced"
        ),
        "{}",
        stderr(&output)
    );
}

/// Enough for the binary and the sample, far too little for that search step.
const MEMORY_LIMIT: &str = "120M";
