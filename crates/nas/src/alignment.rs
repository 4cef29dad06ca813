//! The alignment history of a run: per-layer angles over training, as CSV and as a picture.

use std::collections::BTreeMap;

use bio_rules::{LayerAlignment, LearningRule};
use serde::{Deserialize, Serialize};

use crate::plot::{Chart, Figure, Series};

/// Layers drawn one by one in the picture; beyond this, only the per-rule means are drawn
/// (the CSV always holds every layer).
const MAX_LAYER_LINES: usize = 1000;

/// The alignment of every probed layer at one training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlignmentSample {
    /// Epoch of the probe.
    pub epoch: usize,
    /// Weight step since the start of the run.
    pub step: usize,
    /// One entry per rule layer.
    pub layers: Vec<LayerAlignment>,
}

/// The mean alignment of the layers of one rule at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSummary {
    /// The rule.
    pub rule: LearningRule,
    /// Layers of that rule.
    pub layers: usize,
    /// Mean gradient angle in degrees over the layers that have one.
    pub gradient_angle: Option<f64>,
    /// Mean angle between `W` and `B` in degrees.
    pub weight_angle: Option<f64>,
    /// Mean `‖B‖ / ‖W‖`.
    pub norm_ratio: Option<f64>,
}

/// One layer's rule and its points over training.
type LayerLine = (LearningRule, Vec<(f64, f64)>);

/// Every alignment probe of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlignmentLog {
    /// The probes in order.
    pub samples: Vec<AlignmentSample>,
}

/// Header of the per-rule CSV rows.
pub const RULE_CSV_HEADER: &str = "epoch,step,rule,layers,gradient_angle,weight_angle,norm_ratio";

/// Header of the per-layer CSV rows.
pub const LAYER_CSV_HEADER: &str = "epoch,step,layer,rule,gradient_angle,weight_angle,norm_ratio";

fn field(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.4}")).unwrap_or_default()
}

fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().filter(|v| v.is_finite()).collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

impl AlignmentSample {
    /// One CSV row per layer, in [`LAYER_CSV_HEADER`]'s order.
    pub fn csv_rows(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|l| {
                format!(
                    "{},{},{},{},{},{},{}",
                    self.epoch,
                    self.step,
                    l.layer,
                    l.rule,
                    field(l.gradient_angle),
                    field(l.weight_angle),
                    field(l.norm_ratio)
                )
            })
            .collect()
    }

    /// One CSV row per rule (the means), in [`RULE_CSV_HEADER`]'s order.
    pub fn rule_rows(&self) -> Vec<String> {
        self.by_rule()
            .iter()
            .map(|r| {
                format!(
                    "{},{},{},{},{},{},{}",
                    self.epoch,
                    self.step,
                    r.rule,
                    r.layers,
                    field(r.gradient_angle),
                    field(r.weight_angle),
                    field(r.norm_ratio)
                )
            })
            .collect()
    }

    /// The mean alignment of each rule, in [`LearningRule`]'s order.
    pub fn by_rule(&self) -> Vec<RuleSummary> {
        let mut groups: BTreeMap<LearningRule, Vec<&LayerAlignment>> = BTreeMap::new();
        for layer in &self.layers {
            groups.entry(layer.rule).or_default().push(layer);
        }
        groups
            .into_iter()
            .map(|(rule, layers)| RuleSummary {
                rule,
                layers: layers.len(),
                gradient_angle: mean(layers.iter().map(|l| l.gradient_angle)),
                weight_angle: mean(layers.iter().map(|l| l.weight_angle)),
                norm_ratio: mean(layers.iter().map(|l| l.norm_ratio)),
            })
            .collect()
    }
}

/// A fixed colour per rule, so pictures of different runs compare at a glance.
pub fn rule_color(rule: LearningRule) -> &'static str {
    match rule {
        LearningRule::Bp => "#222222",
        LearningRule::Fa => "#d62728",
        LearningRule::Usf => "#1f77b4",
        LearningRule::Brsf => "#2ca02c",
        LearningRule::Frsf => "#ff7f0e",
        LearningRule::Dfa => "#9467bd",
        LearningRule::Hebbian => "#8c564b",
    }
}

impl AlignmentLog {
    /// Adds a probe.
    pub fn push(&mut self, sample: AlignmentSample) {
        self.samples.push(sample);
    }

    /// The picture: gradient angle and `W`–`B` angle per layer over training (thin lines,
    /// coloured by rule) with each rule's mean (thick lines), as one SVG document.
    pub fn to_svg(&self) -> String {
        let gradient = self.chart(
            "Angle to back-propagation's input gradient",
            |l| l.gradient_angle,
            |s| s.gradient_angle,
        );
        let weight = self.chart(
            "Angle between W and its feedback B",
            |l| l.weight_angle,
            |s| s.weight_angle,
        );
        Figure::new(2)
            .with_chart(gradient)
            .with_chart(weight)
            .to_svg()
    }

    fn chart(
        &self,
        title: &str,
        per_layer: impl Fn(&LayerAlignment) -> Option<f64>,
        per_rule: impl Fn(&RuleSummary) -> Option<f64>,
    ) -> Chart {
        let mut chart = Chart::new(title, "weight step", "degrees").with_y_range(0.0, 180.0);
        for series in self.layer_series(&per_layer) {
            chart = chart.with_series(series);
        }
        for series in self.rule_series(&per_rule) {
            chart = chart.with_series(series);
        }
        chart
    }

    /// Thin lines, one per layer (the first [`MAX_LAYER_LINES`] in model order).
    fn layer_series(&self, value: &impl Fn(&LayerAlignment) -> Option<f64>) -> Vec<Series> {
        let mut lines: BTreeMap<(usize, String), LayerLine> = BTreeMap::new();
        for sample in &self.samples {
            for (index, layer) in sample.layers.iter().enumerate() {
                let y = value(layer).unwrap_or(f64::NAN);
                lines
                    .entry((index, layer.layer.clone()))
                    .or_insert_with(|| (layer.rule, Vec::new()))
                    .1
                    .push((sample.step as f64, y));
            }
        }
        if lines.len() > MAX_LAYER_LINES {
            return Vec::new();
        }
        lines
            .into_iter()
            .filter(|(_, (_, points))| points.iter().any(|p| p.1.is_finite()))
            .map(|((_, name), (rule, points))| {
                Series::new(name, points)
                    .with_color(rule_color(rule))
                    .with_width(0.7)
                    .with_opacity(0.25)
                    .without_legend()
            })
            .collect()
    }

    /// Thick lines, one per rule: the mean over its layers.
    fn rule_series(&self, value: &impl Fn(&RuleSummary) -> Option<f64>) -> Vec<Series> {
        let mut lines: BTreeMap<LearningRule, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in &self.samples {
            for summary in sample.by_rule() {
                let y = value(&summary).unwrap_or(f64::NAN);
                lines
                    .entry(summary.rule)
                    .or_default()
                    .push((sample.step as f64, y));
            }
        }
        lines
            .into_iter()
            .filter(|(_, points)| points.iter().any(|p| p.1.is_finite()))
            .map(|(rule, points)| {
                Series::new(format!("{rule} (mean)"), points)
                    .with_color(rule_color(rule))
                    .with_width(2.5)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, rule: LearningRule, angle: Option<f64>) -> LayerAlignment {
        LayerAlignment {
            layer: name.to_string(),
            rule,
            gradient_angle: angle,
            weight_angle: angle.map(|a| a / 2.0),
            norm_ratio: Some(1.0),
        }
    }

    fn sample(step: usize) -> AlignmentSample {
        AlignmentSample {
            epoch: 0,
            step,
            layers: vec![
                layer("a", LearningRule::Fa, Some(80.0)),
                layer("b", LearningRule::Fa, Some(60.0)),
                layer("c", LearningRule::Usf, Some(10.0)),
                layer("d", LearningRule::Hebbian, None),
            ],
        }
    }

    #[test]
    fn rules_are_averaged_over_their_layers() {
        let summary = sample(0).by_rule();
        let fa = summary
            .iter()
            .find(|s| s.rule == LearningRule::Fa)
            .expect("fa");
        assert_eq!(fa.layers, 2);
        assert_eq!(fa.gradient_angle, Some(70.0));
        assert_eq!(fa.weight_angle, Some(35.0));
        let hebb = summary
            .iter()
            .find(|s| s.rule == LearningRule::Hebbian)
            .expect("hebbian");
        assert_eq!(hebb.gradient_angle, None);
    }

    #[test]
    fn csv_rows_leave_missing_values_empty() {
        let rows = sample(3).csv_rows();
        assert_eq!(rows[0], "0,3,a,fa,80.0000,40.0000,1.0000");
        assert_eq!(rows[3], "0,3,d,hebbian,,,1.0000");
        assert_eq!(
            LAYER_CSV_HEADER.split(',').count(),
            rows[0].split(',').count()
        );
    }

    #[test]
    fn picture_has_a_mean_line_per_rule_with_values() {
        let mut log = AlignmentLog::default();
        log.push(sample(0));
        log.push(sample(10));
        let svg = log.to_svg();
        assert!(svg.contains("fa (mean)") && svg.contains("usf (mean)"));
        assert!(!svg.contains("hebbian (mean)"), "no angle, no line");
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
