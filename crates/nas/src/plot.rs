//! Dependency-free SVG line charts.
//!
//! A [`Chart`] is one 640×400 panel: a white background, a framed plot area with a title,
//! an x label and a rotated y label, 4–8 "nice" ticks per axis (steps of 1, 2 or 5 × 10^k)
//! with grid lines and compact tick labels, one line per [`Series`], and a legend box in
//! the top-right corner of the plot area. A [`Figure`] lays several charts out in a grid.
//!
//! Non-finite points break a line into pieces; a piece of one point is drawn as a small
//! circle. Lines are clipped to the plot area, so values outside a fixed y range are cut
//! off at its edge. Text is XML-escaped, and the output depends only on the input.

/// Width of one panel in pixels.
const PANEL_WIDTH: usize = 640;
/// Height of one panel in pixels.
const PANEL_HEIGHT: usize = 400;
/// Left edge of the plot area.
const PLOT_LEFT: f64 = 72.0;
/// Right edge of the plot area.
const PLOT_RIGHT: f64 = 616.0;
/// Top edge of the plot area.
const PLOT_TOP: f64 = 40.0;
/// Bottom edge of the plot area.
const PLOT_BOTTOM: f64 = 340.0;
/// How far, in pixels, lines may reach past the plot area's frame.
const CLIP_MARGIN: f64 = 2.0;
/// Colours given, by series index, to series without their own.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
/// Most legend entries listed before a "+N more" line.
const MAX_LEGEND: usize = 12;
/// Data values are clamped to ±LIMIT when axis ranges are computed.
const LIMIT: f64 = 1e300;
/// Pixel coordinates are clamped to ±MAX_PIXEL (far outside the clip area).
const MAX_PIXEL: f64 = 1e6;
/// Horizontal centre of the title.
const TITLE_X: f64 = 320.0;
/// Longest title or axis label, in characters, before it is cut short.
const MAX_TITLE_CHARS: usize = 80;
/// Longest legend name, in characters, before it is cut short.
const MAX_NAME_CHARS: usize = 28;

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Label shown in the legend.
    pub name: String,
    /// The `(x, y)` points in drawing order; a non-finite x or y is a gap that breaks the line.
    pub points: Vec<(f64, f64)>,
    /// CSS colour such as `"#1f77b4"`; `None` takes the built-in palette's colour for the
    /// series' index.
    pub color: Option<String>,
    /// Stroke width in pixels.
    pub width: f64,
    /// Stroke opacity, from 0 to 1.
    pub opacity: f64,
    /// Whether the series is listed in the legend.
    pub legend: bool,
}

impl Series {
    /// A series with a palette colour, width 1.5, full opacity, listed in the legend.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            color: None,
            width: 1.5,
            opacity: 1.0,
            legend: true,
        }
    }

    /// Sets the CSS colour of the line.
    pub fn with_color(self, color: impl Into<String>) -> Self {
        Self {
            color: Some(color.into()),
            ..self
        }
    }

    /// Sets the stroke width in pixels.
    pub fn with_width(self, width: f64) -> Self {
        Self { width, ..self }
    }

    /// Sets the stroke opacity, from 0 to 1.
    pub fn with_opacity(self, opacity: f64) -> Self {
        Self { opacity, ..self }
    }

    /// Leaves the series out of the legend.
    pub fn without_legend(self) -> Self {
        Self {
            legend: false,
            ..self
        }
    }

    /// The colour to draw with: the series' own, or the palette's for `index`.
    fn stroke(&self, index: usize) -> String {
        match &self.color {
            Some(color) if !color.trim().is_empty() => escape(color.trim()),
            _ => PALETTE[index % PALETTE.len()].to_string(),
        }
    }

    /// The stroke width, with 1.5 for a non-finite or non-positive one.
    fn stroke_width(&self) -> f64 {
        if self.width.is_finite() && self.width > 0.0 {
            self.width.min(50.0)
        } else {
            1.5
        }
    }

    /// The opacity clamped to `0..=1`, with 1 for NaN.
    fn stroke_opacity(&self) -> f64 {
        if self.opacity.is_nan() {
            1.0
        } else {
            self.opacity.clamp(0.0, 1.0)
        }
    }
}

/// One panel: axes, title, lines.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Chart {
    /// Title above the plot area.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label beside the y axis, rotated.
    pub y_label: String,
    /// The lines, drawn in order.
    pub series: Vec<Series>,
    /// Fixed y axis range `(low, high)`, such as `(0.0, 180.0)` for angles; `None` (or a
    /// non-finite end) takes the range from the data.
    pub y_range: Option<(f64, f64)>,
}

impl Chart {
    /// An empty chart with the given title and axis labels.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Self::default()
        }
    }

    /// Adds a line.
    pub fn with_series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Fixes the y axis to `low..=high` (ends in either order); lines outside it are
    /// clipped. A non-finite end makes the axis follow the data instead.
    pub fn with_y_range(self, low: f64, high: f64) -> Self {
        Self {
            y_range: Some((low, high)),
            ..self
        }
    }

    /// A standalone 640×400 SVG document of this chart.
    pub fn to_svg(&self) -> String {
        document(PANEL_WIDTH, PANEL_HEIGHT, &panel(self, 0, 0, 0))
    }

    /// The x and y axes: x from the data, y from `y_range` when it is usable.
    fn axes(&self) -> (Axis, Axis) {
        let (xs, ys) = data_bounds(&self.series);
        let x = data_axis(xs);
        let y = match self.y_range {
            Some((low, high)) if low.is_finite() && high.is_finite() => fixed_axis(low, high),
            _ => data_axis(ys),
        };
        (x, y)
    }
}

/// Several charts side by side in a grid.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Figure {
    /// The charts, laid out row by row.
    pub charts: Vec<Chart>,
    /// Charts per row; 0 counts as 1.
    pub columns: usize,
}

impl Figure {
    /// An empty figure with `columns` charts per row.
    pub fn new(columns: usize) -> Self {
        Self {
            charts: Vec::new(),
            columns,
        }
    }

    /// Adds a chart after the others.
    pub fn with_chart(mut self, chart: Chart) -> Self {
        self.charts.push(chart);
        self
    }

    /// A standalone SVG document with the charts as 640×400 panels in a grid of
    /// `max(1, columns)` columns (fewer when there are fewer charts) and as many rows as
    /// needed (at least one).
    pub fn to_svg(&self) -> String {
        let (columns, rows) = self.grid();
        let body: Vec<String> = self
            .charts
            .iter()
            .enumerate()
            .map(|(i, chart)| {
                let (dx, dy) = ((i % columns) * PANEL_WIDTH, (i / columns) * PANEL_HEIGHT);
                panel(chart, i, dx, dy)
            })
            .collect();
        document(columns * PANEL_WIDTH, rows * PANEL_HEIGHT, &body.join(""))
    }

    /// Columns and rows of the grid.
    fn grid(&self) -> (usize, usize) {
        let columns = self.columns.max(1).min(self.charts.len().max(1));
        let rows = self.charts.len().div_ceil(columns).max(1);
        (columns, rows)
    }
}

/// A complete SVG document of the given size around `body`.
fn document(width: usize, height: usize, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">\n\
         <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n\
         {body}</svg>\n"
    )
}

/// One chart as a group translated to `(dx, dy)`, using clip path id `clip{index}`.
fn panel(chart: &Chart, index: usize, dx: usize, dy: usize) -> String {
    let (x_axis, y_axis) = chart.axes();
    let xs = Scale::new(&x_axis, PLOT_LEFT, PLOT_RIGHT);
    let ys = Scale::new(&y_axis, PLOT_BOTTOM, PLOT_TOP);
    let clip = format!("clip{index}");
    let mut parts = vec![
        format!("<g transform=\"translate({dx},{dy})\">"),
        defs(&clip),
    ];
    parts.extend(x_grid(&x_axis, xs));
    parts.extend(y_grid(&y_axis, ys));
    parts.push(frame());
    parts.push(format!("<g clip-path=\"url(#{clip})\">"));
    for (i, series) in chart.series.iter().enumerate() {
        parts.extend(series_elements(series, i, xs, ys));
    }
    parts.push("</g>".to_string());
    parts.extend(legend(&chart.series));
    parts.extend(labels(chart));
    parts.push("</g>".to_string());
    parts.join("\n") + "\n"
}

/// The clip path of the plot area, a little larger so lines on the frame stay whole.
fn defs(id: &str) -> String {
    format!(
        "<defs><clipPath id=\"{id}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\
         </clipPath></defs>",
        num(PLOT_LEFT - CLIP_MARGIN),
        num(PLOT_TOP - CLIP_MARGIN),
        num(PLOT_RIGHT - PLOT_LEFT + 2.0 * CLIP_MARGIN),
        num(PLOT_BOTTOM - PLOT_TOP + 2.0 * CLIP_MARGIN)
    )
}

/// The frame around the plot area.
fn frame() -> String {
    format!(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333333\" \
         stroke-width=\"1\"/>",
        num(PLOT_LEFT),
        num(PLOT_TOP),
        num(PLOT_RIGHT - PLOT_LEFT),
        num(PLOT_BOTTOM - PLOT_TOP)
    )
}

/// Title and axis labels.
fn labels(chart: &Chart) -> Vec<String> {
    let middle_x = (PLOT_LEFT + PLOT_RIGHT) / 2.0;
    let middle_y = (PLOT_TOP + PLOT_BOTTOM) / 2.0;
    vec![
        text(
            TITLE_X,
            24.0,
            "middle",
            "font-size=\"15\" font-weight=\"bold\"",
            &chart.title,
        ),
        text(
            middle_x,
            382.0,
            "middle",
            "font-size=\"12\"",
            &chart.x_label,
        ),
        format!(
            "<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\" \
             font-size=\"12\">{}</text>",
            num(middle_y),
            escape(&shorten(&chart.y_label, MAX_TITLE_CHARS))
        ),
    ]
}

/// A `<text>` element with escaped, shortened content.
fn text(x: f64, y: f64, anchor: &str, style: &str, content: &str) -> String {
    format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" {style}>{}</text>",
        num(x),
        num(y),
        escape(&shorten(content, MAX_TITLE_CHARS))
    )
}

/// Vertical grid lines, tick marks and labels of the x axis.
fn x_grid(axis: &Axis, scale: Scale) -> Vec<String> {
    let mut parts = Vec::new();
    for &tick in &axis.ticks {
        let x = num(scale.map(tick));
        parts.push(format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#dddddd\" \
             stroke-width=\"1\"/>",
            num(PLOT_TOP),
            num(PLOT_BOTTOM + 5.0)
        ));
        let label = format!(
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
            num(PLOT_BOTTOM + 18.0),
            axis.label(tick)
        );
        parts.push(label);
    }
    parts
}

/// Horizontal grid lines, tick marks and labels of the y axis.
fn y_grid(axis: &Axis, scale: Scale) -> Vec<String> {
    let mut parts = Vec::new();
    for &tick in &axis.ticks {
        let y = scale.map(tick);
        parts.push(format!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#dddddd\" \
             stroke-width=\"1\"/>",
            num(PLOT_LEFT - 5.0),
            num(y),
            num(PLOT_RIGHT),
            num(y)
        ));
        let label = format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
            num(PLOT_LEFT - 8.0),
            num(y + 4.0),
            axis.label(tick)
        );
        parts.push(label);
    }
    parts
}

/// Polylines (and circles for lone points) of one series.
fn series_elements(series: &Series, index: usize, xs: Scale, ys: Scale) -> Vec<String> {
    let color = series.stroke(index);
    let width = num(series.stroke_width());
    let opacity = num(series.stroke_opacity());
    let radius = num((series.stroke_width() + 1.5).max(3.0));
    runs(&series.points)
        .iter()
        .map(|run| match run.as_slice() {
            [(x, y)] => format!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"{radius}\" fill=\"{color}\" \
                 fill-opacity=\"{opacity}\"/>",
                num(xs.map(*x)),
                num(ys.map(*y))
            ),
            _ => {
                let points: Vec<String> = run
                    .iter()
                    .map(|&(x, y)| format!("{},{}", num(xs.map(x)), num(ys.map(y))))
                    .collect();
                format!(
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" \
                     stroke-width=\"{width}\" stroke-opacity=\"{opacity}\" \
                     stroke-linejoin=\"round\" stroke-linecap=\"round\"/>",
                    points.join(" ")
                )
            }
        })
        .collect()
}

/// The unbroken stretches of finite points.
fn runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            current.push((x, y));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The legend box: legend-enabled series, at most [`MAX_LEGEND`] and a "+N more" line.
fn legend(series: &[Series]) -> Vec<String> {
    let rows = legend_rows(series);
    if rows.is_empty() {
        return Vec::new();
    }
    let longest = rows.iter().map(|(_, label)| label.chars().count()).max();
    let width = 40.0 + 6.5 * count_f64(longest.unwrap_or(0));
    let left = PLOT_RIGHT - 8.0 - width;
    let top = PLOT_TOP + 8.0;
    let mut parts = vec![
        "<g class=\"legend\">".to_string(),
        format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#ffffff\" \
             fill-opacity=\"0.85\" stroke=\"#999999\" stroke-width=\"1\"/>",
            num(left),
            num(top),
            num(width),
            num(8.0 + 16.0 * count_f64(rows.len()))
        ),
    ];
    for (row, (sample, label)) in rows.iter().enumerate() {
        let y = top + 16.0 * count_f64(row) + 12.0;
        if let Some((index, series)) = sample {
            parts.push(legend_sample(series, *index, left, y));
        }
        parts.push(text(
            left + 34.0,
            y + 4.0,
            "start",
            "font-size=\"11\"",
            label,
        ));
    }
    parts.push("</g>".to_string());
    parts
}

/// The legend's rows: the first [`MAX_LEGEND`] legend-enabled series with their index and
/// shortened name, then, if some are left out, a "+N more" row without a sample.
fn legend_rows(series: &[Series]) -> Vec<(Option<(usize, &Series)>, String)> {
    let listed = series.iter().enumerate().filter(|(_, s)| s.legend);
    let mut rows: Vec<(Option<(usize, &Series)>, String)> = listed
        .clone()
        .take(MAX_LEGEND)
        .map(|(i, s)| (Some((i, s)), shorten(&s.name, MAX_NAME_CHARS)))
        .collect();
    let hidden = listed.count().saturating_sub(MAX_LEGEND);
    if hidden > 0 {
        rows.push((None, format!("+{hidden} more")));
    }
    rows
}

/// A short line in the series' colour, width and opacity at height `y` of the legend.
fn legend_sample(series: &Series, index: usize, left: f64, y: f64) -> String {
    format!(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\" \
         stroke-opacity=\"{}\"/>",
        num(left + 8.0),
        num(y),
        num(left + 28.0),
        num(y),
        series.stroke(index),
        num(series.stroke_width().min(4.0)),
        num(series.stroke_opacity())
    )
}

/// A (small) count as `f64`.
fn count_f64(count: usize) -> f64 {
    count as f64
}

/// `text` cut to at most `max` characters, ending in "…" when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        kept + "…"
    }
}

/// Escapes `& < > " '` for XML text and attributes, dropping characters XML forbids.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most two decimals, trailing zeros trimmed; non-finite gives "0".
fn num(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded == 0.0 || !rounded.is_finite() {
        return "0".to_string();
    }
    trim_zeros(format!("{rounded:.2}"))
}

/// Drops trailing zeros after a decimal point, and the point itself if nothing follows.
fn trim_zeros(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A closed interval `(low, high)`.
type Range = (f64, f64);

/// Smallest and largest finite x and y over all finite points of all series.
fn data_bounds(series: &[Series]) -> (Option<Range>, Option<Range>) {
    let points = series.iter().flat_map(|s| s.points.iter());
    let finite = points.filter(|(x, y)| x.is_finite() && y.is_finite());
    finite.fold((None, None), |(xs, ys), &(x, y)| {
        (widen(xs, x), widen(ys, y))
    })
}

/// `bounds` widened to include `value`.
fn widen(bounds: Option<Range>, value: f64) -> Option<Range> {
    Some(match bounds {
        None => (value, value),
        Some((low, high)) => (low.min(value), high.max(value)),
    })
}

/// A linear map from an axis range to pixel positions.
#[derive(Clone, Copy, Debug)]
struct Scale {
    low: f64,
    high: f64,
    start: f64,
    end: f64,
}

impl Scale {
    /// Maps `axis.low..axis.high` onto `start..end`.
    fn new(axis: &Axis, start: f64, end: f64) -> Self {
        Self {
            low: axis.low,
            high: axis.high,
            start,
            end,
        }
    }

    /// The pixel position of `value`, clamped to ±[`MAX_PIXEL`].
    fn map(self, value: f64) -> f64 {
        let t = (value - self.low) / (self.high - self.low);
        let pixel = self.start + t * (self.end - self.start);
        if pixel.is_nan() {
            return self.start;
        }
        pixel.clamp(-MAX_PIXEL, MAX_PIXEL)
    }
}

/// An axis range with its ticks.
#[derive(Clone, Debug, PartialEq)]
struct Axis {
    low: f64,
    high: f64,
    ticks: Vec<f64>,
    /// The tick step is `m × 10^exponent` with `m` in {1, 2, 5}.
    exponent: i32,
}

impl Axis {
    /// The compact label of `tick`: fixed-point with as many decimals as the step needs,
    /// or scientific notation for very large values and very small steps.
    fn label(&self, tick: f64) -> String {
        let largest = self.ticks.iter().fold(0.0_f64, |m, t| m.max(t.abs()));
        if largest >= 1e6 || self.exponent <= -5 {
            scientific(tick, self.exponent)
        } else {
            fixed(tick, self.exponent)
        }
    }
}

/// `value` with `max(0, -exponent)` decimals, trailing zeros trimmed.
fn fixed(value: f64, exponent: i32) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let decimals = usize::try_from(-exponent).unwrap_or(0);
    trim_zeros(format!("{value:.decimals$}"))
}

/// `value` as `m e k` with the mantissa digits the step `10^exponent` needs.
fn scientific(value: f64, exponent: i32) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    // log10 of a finite nonzero f64 lies within ±324, so the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let own = value.abs().log10().floor() as i32;
    let decimals = usize::try_from((own - exponent).clamp(0, 16)).unwrap_or(0);
    let text = format!("{value:.decimals$e}");
    match text.split_once('e') {
        Some((mantissa, power)) => format!("{}e{power}", trim_zeros(mantissa.to_string())),
        None => text,
    }
}

/// Axis over the data range `bounds` (0..1 without data), widened to whole ticks.
fn data_axis(bounds: Option<Range>) -> Axis {
    let (low, high) = padded(bounds.unwrap_or((0.0, 1.0)));
    let step = best_step(low, high, true);
    let ticks = step.ticks(low, high, true);
    let first = ticks.first().copied().unwrap_or(low);
    let last = ticks.last().copied().unwrap_or(high);
    Axis {
        low: first.min(low),
        high: last.max(high),
        ticks,
        exponent: step.exponent,
    }
}

/// Axis over exactly `low..=high` (swapped if reversed), with the ticks inside it.
fn fixed_axis(low: f64, high: f64) -> Axis {
    let (low, high) = padded((low, high));
    let step = best_step(low, high, false);
    Axis {
        low,
        high,
        ticks: step.ticks(low, high, false),
        exponent: step.exponent,
    }
}

/// The range ordered, clamped to ±[`LIMIT`], and widened around its middle when it is
/// too narrow to label (equal ends, or a width lost in rounding).
fn padded((low, high): Range) -> Range {
    let clamp = |v: f64| {
        if v.is_nan() {
            0.0
        } else {
            v.clamp(-LIMIT, LIMIT)
        }
    };
    let (a, b) = (clamp(low), clamp(high));
    let (low, high) = (a.min(b), a.max(b));
    let scale = low.abs().max(high.abs());
    if high - low > (scale * 1e-9).max(1e-200) {
        return (low, high);
    }
    let middle = low / 2.0 + high / 2.0;
    let pad = if scale < 1e-200 { 1.0 } else { scale * 0.1 };
    (middle - pad, middle + pad)
}

/// A tick step `mantissa × 10^exponent`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Step {
    mantissa: f64,
    exponent: i32,
}

impl Step {
    /// The step's size.
    fn size(self) -> f64 {
        self.tick(1.0)
    }

    /// The `k`-th multiple of the step, computed so that round values stay round.
    fn tick(self, k: f64) -> f64 {
        let power = 10f64.powi(self.exponent.abs());
        let value = if self.exponent >= 0 {
            k * self.mantissa * power
        } else {
            k * self.mantissa / power
        };
        if value == 0.0 { 0.0 } else { value }
    }

    /// First and last multiple index: inside `low..=high`, or covering it when `cover`.
    fn bounds(self, low: f64, high: f64, cover: bool) -> (f64, f64) {
        let (a, b) = (low / self.size(), high / self.size());
        let slack = 1e-9;
        if cover {
            ((a + slack).floor(), (b - slack).ceil())
        } else {
            ((a - slack).ceil(), (b + slack).floor())
        }
    }

    /// How many ticks [`Step::ticks`] would give.
    fn count(self, low: f64, high: f64, cover: bool) -> f64 {
        let (first, last) = self.bounds(low, high, cover);
        (last - first + 1.0).max(0.0)
    }

    /// The ticks inside `low..=high`, or covering it when `cover`.
    fn ticks(self, low: f64, high: f64, cover: bool) -> Vec<f64> {
        let (first, last) = self.bounds(low, high, cover);
        let count = (last - first + 1.0).clamp(0.0, 100.0);
        (0..100)
            .map(f64::from)
            .take_while(|i| *i < count)
            .map(|i| self.tick(first + i))
            .collect()
    }
}

/// The 1-2-5 step whose tick count is in 4..=8 and nearest 6 (else nearest that range);
/// ties go to the smaller step.
fn best_step(low: f64, high: f64, cover: bool) -> Step {
    // The span is positive and at most 2.2e300, so its log10 fits an i32.
    #[allow(clippy::cast_possible_truncation)]
    let magnitude = (high - low).log10().floor() as i32;
    let candidates = (magnitude - 2..=magnitude + 1)
        .flat_map(|exponent| [1.0, 2.0, 5.0].map(|mantissa| Step { mantissa, exponent }));
    let score = |step: Step| {
        let count = step.count(low, high, cover);
        let miss = (4.0 - count).max(count - 8.0).max(0.0);
        (miss, (count - 6.0).abs())
    };
    let mut best = Step {
        mantissa: 1.0,
        exponent: magnitude,
    };
    let mut best_score = score(best);
    for step in candidates {
        let current = score(step);
        if current < best_score {
            (best, best_score) = (step, current);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `svg` is one well-formed XML element tree: tags balance and nest,
    /// attribute quotes pair up, and every `&` starts a known entity.
    fn assert_well_formed(svg: &str) {
        let body = svg
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("XML declaration");
        let mut stack: Vec<String> = Vec::new();
        let mut rest = body;
        let mut roots = 0;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open]);
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "'<' inside tag {tag}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unpaired quote in {tag}");
            check_text(tag);
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                if stack.is_empty() {
                    roots += 1;
                }
                let name = tag
                    .split_whitespace()
                    .next()
                    .expect("tag name")
                    .trim_end_matches('/');
                if !tag.ends_with('/') {
                    stack.push(name.to_string());
                }
            }
            rest = &rest[close + 1..];
        }
        assert!(stack.is_empty(), "unclosed elements {stack:?}");
        assert_eq!(roots, 1, "expected one root element");
        assert_eq!(rest.trim(), "");
        assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    }

    /// Every `&` in `text` must begin one of the five predefined entities.
    fn check_text(text: &str) {
        for (i, _) in text.match_indices('&') {
            let tail = &text[i..];
            let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
            assert!(
                known.iter().any(|e| tail.starts_with(e)),
                "bare & in {text}"
            );
        }
        assert!(!text.contains('>'), "bare > in {text}");
    }

    /// Every number in coordinate attributes has at most two decimals and no NaN/inf.
    fn assert_compact_numbers(svg: &str) {
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "non-finite number written"
        );
        for attr in [
            "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "points", "width",
        ] {
            let key = format!(" {attr}=\"");
            for (i, _) in svg.match_indices(&key) {
                let value = svg[i + key.len()..].split('"').next().expect("value");
                for number in value.split([' ', ',']) {
                    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
                    assert!(decimals <= 2, "{attr}={value}");
                    assert!(number.parse::<f64>().is_ok(), "{attr}={value}");
                }
            }
        }
    }

    fn line(points: Vec<(f64, f64)>) -> Chart {
        Chart::new("t", "x", "y").with_series(Series::new("s", points))
    }

    fn close(actual: &[f64], expected: &[f64]) -> bool {
        actual.len() == expected.len()
            && actual
                .iter()
                .zip(expected)
                .all(|(a, e)| (a - e).abs() < 1e-12)
    }

    #[test]
    fn unit_range_ticks_by_fifths() {
        let axis = data_axis(Some((0.0, 1.0)));
        assert!(
            close(&axis.ticks, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
            "{:?}",
            axis.ticks
        );
        let labels: Vec<String> = axis.ticks.iter().map(|t| axis.label(*t)).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        let fixed = fixed_axis(0.0, 1.0);
        assert!(close(&fixed.ticks, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]));
        assert_eq!((fixed.low, fixed.high), (0.0, 1.0));
    }

    #[test]
    fn ticks_of_3_to_97_step_by_10_or_20() {
        for axis in [data_axis(Some((3.0, 97.0))), fixed_axis(3.0, 97.0)] {
            let steps: Vec<f64> = axis.ticks.windows(2).map(|w| w[1] - w[0]).collect();
            let step = steps[0];
            assert!(step == 10.0 || step == 20.0, "{:?}", axis.ticks);
            assert!(steps.iter().all(|s| (s - step).abs() < 1e-9));
            assert!((4..=8).contains(&axis.ticks.len()), "{:?}", axis.ticks);
        }
        let axis = data_axis(Some((3.0, 97.0)));
        assert!(axis.low <= 3.0 && axis.high >= 97.0);
    }

    #[test]
    fn data_axes_always_have_4_to_8_nice_ticks() {
        let mut state = 12345_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            f64::from(u32::try_from(state >> 40).expect("24 bits")) / f64::from(1u32 << 24)
        };
        for _ in 0..2000 {
            let scale = 10f64.powi((next() * 40.0) as i32 - 20);
            let (a, b) = ((next() - 0.5) * scale, (next() - 0.5) * scale);
            let axis = data_axis(Some((a.min(b), a.max(b))));
            assert!(
                (4..=8).contains(&axis.ticks.len()),
                "{a} {b}: {:?}",
                axis.ticks
            );
            assert!(axis.low <= a.min(b) && axis.high >= a.max(b));
            let step = (axis.ticks[1] - axis.ticks[0]) / 10f64.powi(axis.exponent);
            assert!(
                [1.0, 2.0, 5.0].iter().any(|m| (m - step).abs() < 1e-6),
                "{step}"
            );
        }
    }

    #[test]
    fn fixed_angle_range_keeps_its_bounds() {
        let axis = fixed_axis(0.0, 180.0);
        assert_eq!((axis.low, axis.high), (0.0, 180.0));
        assert!((4..=8).contains(&axis.ticks.len()), "{:?}", axis.ticks);
        assert!(axis.ticks.iter().all(|t| (0.0..=180.0).contains(t)));
        assert_eq!(fixed_axis(5.0, -5.0).low, -5.0);
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(fixed(0.1 + 0.2, -1), "0.3");
        assert_eq!(fixed(-0.0, -2), "0");
        assert_eq!(fixed(2.5, -1), "2.5");
        assert_eq!(fixed(40.0, 1), "40");
        assert_eq!(scientific(3e300, 300), "3e300");
        assert_eq!(scientific(1.5e7, 6), "1.5e7");
        assert_eq!(scientific(2e-7, -7), "2e-7");
        let axis = data_axis(Some((0.0, 4e6)));
        assert_eq!(axis.label(axis.ticks[1]), "1e6");
        let tiny = data_axis(Some((0.0, 3e-6)));
        assert!(
            tiny.ticks.iter().all(|t| tiny.label(*t).len() <= 6),
            "{tiny:?}"
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;");
        assert_eq!(escape("x\u{0}y\tz"), "xy z");
        let chart = Chart::new("<&>", "\"x\"", "'y'")
            .with_series(Series::new("a<b", vec![(0.0, 1.0), (1.0, 2.0)]).with_color("\"red"));
        let svg = chart.to_svg();
        assert_well_formed(&svg);
        assert!(svg.contains("&lt;&amp;&gt;") && svg.contains("&quot;x&quot;"));
        assert!(svg.contains("&apos;y&apos;") && svg.contains("a&lt;b"));
        assert!(svg.contains("stroke=\"&quot;red\""));
    }

    #[test]
    fn nan_gap_splits_a_line() {
        let points = vec![
            (0.0, 0.0),
            (1.0, 1.0),
            (2.0, f64::NAN),
            (3.0, 3.0),
            (4.0, 2.0),
        ];
        let svg = line(points).to_svg();
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 0);
        let infinite = vec![(0.0, 0.0), (1.0, 1.0), (f64::INFINITY, 1.0), (3.0, 3.0)];
        let svg = line(infinite).to_svg();
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 1);
    }

    #[test]
    fn single_point_gets_a_marker() {
        let svg = line(vec![(2.0, 3.0)]).to_svg();
        assert_well_formed(&svg);
        assert_compact_numbers(&svg);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert_eq!(svg.matches("<polyline").count(), 0);
    }

    #[test]
    fn empty_charts_are_documents() {
        for chart in [
            Chart::default(),
            line(vec![]),
            line(vec![(f64::NAN, f64::NAN)]),
        ] {
            let svg = chart.to_svg();
            assert!(svg.ends_with("</svg>\n"));
            assert!(svg.contains("width=\"640\" height=\"400\" viewBox=\"0 0 640 400\""));
            assert_well_formed(&svg);
            assert_compact_numbers(&svg);
        }
        assert!(!Chart::default().to_svg().contains("class=\"legend\""));
    }

    #[test]
    fn figure_grid_size() {
        let figure = (0..3).fold(Figure::new(2), |f, i| {
            f.with_chart(line(vec![(0.0, i.into())]))
        });
        let svg = figure.to_svg();
        assert_well_formed(&svg);
        assert!(svg.contains("width=\"1280\" height=\"800\" viewBox=\"0 0 1280 800\""));
        assert!(svg.contains("translate(640,0)") && svg.contains("translate(0,400)"));
        for id in ["clip0", "clip1", "clip2"] {
            assert_eq!(svg.matches(&format!("id=\"{id}\"")).count(), 1);
        }
        let single = Figure::new(0)
            .with_chart(Chart::default())
            .with_chart(Chart::default());
        assert!(single.to_svg().contains("width=\"640\" height=\"800\""));
        assert!(
            Figure::new(3)
                .to_svg()
                .contains("width=\"640\" height=\"400\"")
        );
        assert_well_formed(&Figure::default().to_svg());
    }

    #[test]
    fn awkward_data_gives_valid_documents() {
        let cases: Vec<Chart> = vec![
            line(vec![(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]),
            line(vec![(7.0, 1.0), (7.0, 2.0)]),
            line(vec![
                (0.0, 1e300),
                (1.0, -1e300),
                (2.0, f64::MAX),
                (3.0, f64::MIN),
            ]),
            line(vec![(0.0, 1e-300), (1e-310, 2e-300), (2e-310, 5e-324)]),
            line(vec![(1e15, 1.0), (1e15 + 1.0, 1.0 + 1e-15)]),
            line(vec![(-5.0, -3.0), (-1.0, -8.0), (f64::NEG_INFINITY, 0.0)]),
            line(vec![(0.0, -50.0), (1.0, 90.0), (2.0, 400.0), (3.0, 1e200)])
                .with_y_range(0.0, 180.0),
            line(vec![(0.0, 1.0), (1.0, 2.0)]).with_y_range(f64::NAN, 1.0),
            line(vec![(0.0, 1.0), (1.0, 2.0)]).with_y_range(3.0, 3.0),
            line(vec![(0.0, 1.0), (1.0, 2.0)]).with_y_range(-1e308, 1e308),
            line(vec![(0.0, 1.0), (1.0, 2.0)]).with_series(
                Series::new("odd", vec![(0.5, 1.5)])
                    .with_width(f64::NAN)
                    .with_opacity(7.0),
            ),
        ];
        for chart in cases {
            let svg = chart.to_svg();
            assert_well_formed(&svg);
            assert_compact_numbers(&svg);
            assert!(
                svg.contains("<polyline") || svg.contains("<circle"),
                "{svg}"
            );
        }
    }

    #[test]
    fn fixed_range_is_clipped() {
        let chart = line(vec![(0.0, -50.0), (1.0, 400.0)]).with_y_range(0.0, 180.0);
        let svg = chart.to_svg();
        assert!(svg.contains("<clipPath id=\"clip0\">"));
        assert!(svg.contains("<g clip-path=\"url(#clip0)\">"));
        let clipped = svg.split("url(#clip0)\">").nth(1).expect("clip group");
        assert!(clipped.trim_start().starts_with("<polyline"));
    }

    #[test]
    fn legend_lists_at_most_twelve() {
        let chart = (0..15).fold(Chart::new("many", "x", "y"), |c, i| {
            c.with_series(Series::new(
                format!("s{i}"),
                vec![(0.0, i.into()), (1.0, 1.0)],
            ))
        });
        let svg = chart
            .with_series(Series::new("hidden", vec![]).without_legend())
            .to_svg();
        assert_well_formed(&svg);
        let legend = svg.split("<g class=\"legend\">").nth(1).expect("legend");
        let legend = legend.split("</g>").next().expect("legend end");
        assert_eq!(legend.matches("<line").count(), 12);
        assert!(legend.contains(">s11<") && !legend.contains(">s12<"));
        assert!(legend.contains(">+3 more<") && !legend.contains("hidden"));
    }

    #[test]
    fn colours_come_from_series_or_palette() {
        let chart = Chart::default()
            .with_series(Series::new("a", vec![(0.0, 0.0), (1.0, 1.0)]))
            .with_series(Series::new("b", vec![(0.0, 1.0), (1.0, 0.0)]))
            .with_series(Series::new("c", vec![(0.0, 2.0), (1.0, 0.0)]).with_color("#123456"));
        let svg = chart.to_svg();
        assert!(svg.contains("stroke=\"#1f77b4\"") && svg.contains("stroke=\"#ff7f0e\""));
        assert!(svg.contains("stroke=\"#123456\"") && !svg.contains("#2ca02c"));
    }

    #[test]
    fn builders_set_fields() {
        let s = Series::new("n", vec![(1.0, 2.0)]);
        assert_eq!(
            (s.width, s.opacity, s.legend, s.color.clone()),
            (1.5, 1.0, true, None)
        );
        let s = s
            .with_color("red")
            .with_width(3.0)
            .with_opacity(0.5)
            .without_legend();
        assert_eq!((s.width, s.opacity, s.legend), (3.0, 0.5, false));
        assert_eq!(s.color.as_deref(), Some("red"));
        let c = Chart::new("t", "x", "y")
            .with_y_range(0.0, 180.0)
            .with_series(s.clone());
        assert_eq!((c.y_range, c.series.len()), (Some((0.0, 180.0)), 1));
        assert_eq!(Figure::new(2).with_chart(c).charts.len(), 1);
    }

    #[test]
    fn output_is_deterministic() {
        let chart = line(vec![(0.0, 0.1), (0.5, f64::NAN), (1.0, 0.7), (2.0, 0.3)]);
        assert_eq!(chart.to_svg(), chart.clone().to_svg());
        let figure = Figure::new(2).with_chart(chart.clone()).with_chart(chart);
        assert_eq!(figure.to_svg(), figure.to_svg());
    }
}
