//! Accuracy against ε for several attacks: rows, CSV and an SVG chart.

use crate::attack::Attack;
use crate::classifier::Classifier;
use crate::error::{Result, RobustnessError};
use crate::eval::{RobustAccuracy, robust_accuracy};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use nas::plot::{Chart, Series};
use rand::rngs::StdRng;
use std::path::Path;

/// Header line of [`sweep_csv`].
pub const SWEEP_CSV_HEADER: &str =
    "model,attack,epsilon,clean_accuracy,adversarial_accuracy,images";

/// One point of a sweep: one model under one attack at one ε.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    /// The model's name, as given to [`sweep`].
    pub model: String,
    /// The attack's [`Attack::name`].
    pub attack: String,
    /// The radius asked for; an attack that ignores it (OnePixel) was run once and its
    /// result repeated for every ε.
    pub epsilon: f32,
    /// The counts behind the accuracies.
    pub accuracy: RobustAccuracy,
}

impl SweepRow {
    /// Clean accuracy in `[0, 1]`.
    pub fn clean_accuracy(&self) -> f64 {
        self.accuracy.clean()
    }

    /// Adversarial accuracy in `[0, 1]`.
    pub fn adversarial_accuracy(&self) -> f64 {
        self.accuracy.adversarial()
    }
}

/// What a sweep runs: every attack at every radius, in batches.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep<A> {
    /// The attacks; each is run at every ε through [`Attack::with_epsilon`].
    pub attacks: Vec<A>,
    /// The radii, in pixel units, each finite and `>= 0`.
    pub epsilons: Vec<f32>,
    /// Images per batch in [`robust_accuracy`]; at least 1.
    pub batch_size: usize,
}

/// Runs `sweep` on one model: a row per attack and ε, attacks in the outer loop. Rows of
/// several models can be concatenated before drawing them.
///
/// # Errors
/// [`RobustnessError::EmptySweep`] without attacks or radii, and those of
/// [`robust_accuracy`].
pub fn sweep<B, A>(
    model_name: &str,
    model: &dyn Classifier<B>,
    sweep: &Sweep<A>,
    images: Tensor<B, 4>,
    labels: Tensor<B, 1, Int>,
    rng: &mut StdRng,
) -> Result<Vec<SweepRow>>
where
    B: AutodiffBackend,
    A: Attack<B>,
{
    if sweep.attacks.is_empty() || sweep.epsilons.is_empty() {
        return Err(RobustnessError::EmptySweep);
    }
    let mut rows = Vec::new();
    for attack in &sweep.attacks {
        let data = (images.clone(), labels.clone());
        rows.extend(sweep_attack(model_name, model, attack, sweep, data, rng)?);
    }
    Ok(rows)
}

/// The rows of one attack at every ε; an attack that ignores ε runs once.
fn sweep_attack<B, A>(
    model_name: &str,
    model: &dyn Classifier<B>,
    attack: &A,
    sweep: &Sweep<A>,
    (images, labels): (Tensor<B, 4>, Tensor<B, 1, Int>),
    rng: &mut StdRng,
) -> Result<Vec<SweepRow>>
where
    B: AutodiffBackend,
    A: Attack<B>,
{
    let mut rows = Vec::new();
    let mut fixed: Option<RobustAccuracy> = None;
    for &epsilon in &sweep.epsilons {
        let attack = attack.with_epsilon(epsilon);
        let accuracy = match (attack.epsilon(), fixed) {
            (None, Some(accuracy)) => accuracy,
            _ => {
                let (x, y) = (images.clone(), labels.clone());
                robust_accuracy(model, &attack, x, y, sweep.batch_size, rng)?
            }
        };
        if attack.epsilon().is_none() {
            fixed = Some(accuracy);
        }
        log::info!(
            "{model_name} {} ε={epsilon}: clean {:.4}, adversarial {:.4}",
            attack.name(),
            accuracy.clean(),
            accuracy.adversarial()
        );
        rows.push(SweepRow {
            model: model_name.to_string(),
            attack: attack.name().to_string(),
            epsilon,
            accuracy,
        });
    }
    Ok(rows)
}

/// The rows as CSV: [`SWEEP_CSV_HEADER`], then one line per row (names quoted when they
/// hold a comma, quote or line break).
pub fn sweep_csv(rows: &[SweepRow]) -> String {
    let mut csv = format!("{SWEEP_CSV_HEADER}\n");
    for row in rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            csv_field(&row.model),
            csv_field(&row.attack),
            row.epsilon,
            row.clean_accuracy(),
            row.adversarial_accuracy(),
            row.accuracy.total
        ));
    }
    csv
}

/// A CSV field, quoted (with quotes doubled) when it needs to be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Adversarial accuracy against ε, y fixed to `[0, 1]`: one line per model and attack, in
/// the order they first appear. Lines are named by attack when all rows share one model,
/// by model when they share one attack, and `"model: attack"` otherwise.
pub fn sweep_chart(rows: &[SweepRow], title: &str) -> Chart {
    let one_model = rows.iter().all(|r| r.model == rows[0].model);
    let one_attack = rows.iter().all(|r| r.attack == rows[0].attack);
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for row in rows {
        let key = (row.model.as_str(), row.attack.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let chart = Chart::new(title, "epsilon (pixel units)", "adversarial accuracy");
    keys.into_iter()
        .fold(chart, |chart, (model, attack)| {
            let points = rows
                .iter()
                .filter(|r| r.model == model && r.attack == attack)
                .map(|r| (f64::from(r.epsilon), r.adversarial_accuracy()))
                .collect();
            let name = match (one_model, one_attack) {
                (true, _) => attack.to_string(),
                (false, true) => model.to_string(),
                (false, false) => format!("{model}: {attack}"),
            };
            chart.with_series(Series::new(name, points))
        })
        .with_y_range(0.0, 1.0)
}

/// Writes [`sweep_csv`] of the rows to `path`.
///
/// # Errors
/// [`RobustnessError::Io`] naming the file.
pub fn write_sweep_csv(rows: &[SweepRow], path: &Path) -> Result<()> {
    write(path, &sweep_csv(rows))
}

/// Writes [`sweep_chart`] of the rows to `path` as SVG.
///
/// # Errors
/// [`RobustnessError::Io`] naming the file.
pub fn write_sweep_svg(rows: &[SweepRow], title: &str, path: &Path) -> Result<()> {
    write(path, &sweep_chart(rows, title).to_svg())
}

/// Writes `text` to `path`, naming the file in the error.
fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| RobustnessError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    log::info!("wrote {}", path.display());
    Ok(())
}
