use crate::common::*;
use robustness::{
    AnyAttack, Fgsm, OnePixel, Pgd, RobustAccuracy, RobustnessError, SWEEP_CSV_HEADER, Sweep,
    SweepRow, sweep, sweep_chart, sweep_csv, write_sweep_csv, write_sweep_svg,
};

/// FGSM, PGD and a small OnePixel on the brightness model at three radii.
fn rows() -> Vec<SweepRow> {
    let (x, y) = left_right_data(6, 0.04, 30);
    let plan = Sweep {
        attacks: vec![
            AnyAttack::from(Fgsm::new(0.0)),
            Pgd::new(0.0).into(),
            OnePixel {
                population: 6,
                iterations: 2,
                ..OnePixel::new(1)
            }
            .into(),
        ],
        epsilons: vec![0.0, 0.01, 0.05],
        batch_size: 4,
    };
    sweep("brightness", &left_right, &plan, x, y, &mut rng(0)).expect("sweep")
}

#[test]
fn sweep_gives_a_row_per_attack_and_epsilon() {
    let rows = rows();
    let keys: Vec<(&str, f32)> = rows
        .iter()
        .map(|r| (r.attack.as_str(), r.epsilon))
        .collect();
    let expected = [
        ("FGSM", 0.0),
        ("FGSM", 0.01),
        ("FGSM", 0.05),
        ("PGD", 0.0),
        ("PGD", 0.01),
        ("PGD", 0.05),
        ("OnePixel", 0.0),
        ("OnePixel", 0.01),
        ("OnePixel", 0.05),
    ];
    assert_eq!(keys, expected);
    assert!(
        rows.iter()
            .all(|r| r.model == "brightness" && r.accuracy.total == 6)
    );
    assert!(rows.iter().all(|r| r.clean_accuracy() == 1.0));
    // ε = 0 changes nothing, 0.01 cannot close the gap of 0.04, 0.05 can.
    let adversarial: Vec<f64> = rows[..6]
        .iter()
        .map(SweepRow::adversarial_accuracy)
        .collect();
    assert_eq!(adversarial, [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
    // OnePixel ignores ε: one run, repeated.
    assert!(rows[6..].iter().all(|r| r.accuracy == rows[6].accuracy));
}

#[test]
fn csv_and_svg_are_written() {
    let rows = rows();
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("sweep.csv");
    let svg_path = dir.path().join("sweep.svg");
    write_sweep_csv(&rows, &csv_path).expect("csv");
    write_sweep_svg(&rows, "Robustness", &svg_path).expect("svg");

    let csv = std::fs::read_to_string(&csv_path).expect("read csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], SWEEP_CSV_HEADER);
    assert_eq!(lines.len(), 1 + rows.len());
    for (line, row) in lines[1..].iter().zip(&rows) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[..2], [row.model.as_str(), row.attack.as_str()]);
        assert_eq!(fields[2].parse::<f32>().expect("epsilon"), row.epsilon);
        assert_eq!(
            fields[3].parse::<f64>().expect("clean"),
            row.clean_accuracy()
        );
        assert_eq!(
            fields[4].parse::<f64>().expect("adversarial"),
            row.adversarial_accuracy()
        );
        assert_eq!(fields[5], "6");
    }

    let svg = std::fs::read_to_string(&svg_path).expect("read svg");
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 3);
    for name in [">FGSM<", ">PGD<", ">OnePixel<", ">Robustness<"] {
        assert!(svg.contains(name), "{name} missing");
    }
}

/// A row with the given names and counts.
fn row(model: &str, attack: &str, epsilon: f32, adversarial_correct: usize) -> SweepRow {
    SweepRow {
        model: model.into(),
        attack: attack.into(),
        epsilon,
        accuracy: RobustAccuracy {
            total: 4,
            clean_correct: 4,
            adversarial_correct,
        },
    }
}

#[test]
fn chart_lines_follow_models_or_attacks() {
    let by_model = [
        row("a", "PGD", 0.0, 4),
        row("a", "PGD", 0.1, 1),
        row("b", "PGD", 0.0, 3),
    ];
    let chart = sweep_chart(&by_model, "t");
    let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        chart.series[0].points,
        [(0.0, 1.0), (f64::from(0.1f32), 0.25)]
    );
    assert_eq!(chart.y_range, Some((0.0, 1.0)));
    let mixed = [row("a", "PGD", 0.0, 4), row("b", "FGSM", 0.0, 3)];
    let names: Vec<String> = sweep_chart(&mixed, "t")
        .series
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["a: PGD", "b: FGSM"]);
}

#[test]
fn csv_quotes_awkward_names_and_io_errors_name_the_file() {
    let csv = sweep_csv(&[row("net, \"big\"", "PGD", 0.5, 2)]);
    assert_eq!(
        csv.lines().nth(1),
        Some("\"net, \"\"big\"\"\",PGD,0.5,1,0.5,4")
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing").join("sweep.csv");
    let error = write_sweep_csv(&[], &path).expect_err("no such directory");
    assert!(matches!(&error, RobustnessError::Io { path: p, .. } if *p == path));
    assert!(error.to_string().contains("sweep.csv"), "{error}");
}

#[test]
fn empty_sweeps_are_errors() {
    let (x, y) = left_right_data(2, 0.04, 0);
    let plan = Sweep::<AnyAttack> {
        attacks: vec![],
        epsilons: vec![0.1],
        batch_size: 2,
    };
    let result = sweep("m", &left_right, &plan, x, y, &mut rng(0));
    assert!(matches!(result, Err(RobustnessError::EmptySweep)));
}
