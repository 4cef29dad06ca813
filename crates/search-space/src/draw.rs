//! Cell diagrams: a genotype's cells as Graphviz DOT text and as a dependency-free SVG
//! picture in the style of the DARTS paper's figures.
//!
//! Inputs `c_{k-2}` and `c_{k-1}` sit on the left, the intermediate nodes 0–3 in a column
//! each, the output `c_{k}` on the right. Every kept edge is drawn with its operation and
//! rule; the concatenated nodes are joined to the output by plain lines.

use std::fmt::Write;

use crate::genotype::{CellGenotype, Genotype, GenotypeEdge};

const WIDTH: f64 = 900.0;
const ROW: f64 = 70.0;
const NODE_W: f64 = 70.0;
const NODE_H: f64 = 32.0;

/// The label of state `i` of a cell: the two inputs, then the intermediate nodes.
fn state_name(i: usize) -> String {
    match i {
        0 => "c_{k-2}".to_string(),
        1 => "c_{k-1}".to_string(),
        n => (n - 2).to_string(),
    }
}

/// An edge's label: the operation, and its rule when it has weights.
fn edge_label(edge: &GenotypeEdge) -> String {
    match edge.rule {
        Some(rule) => format!("{} ({})", edge.op.name(), rule.name()),
        None => edge.op.name().to_string(),
    }
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl CellGenotype {
    /// The cell as a Graphviz digraph named `name` (render with `dot -Tpng`).
    pub fn to_dot(&self, name: &str) -> String {
        let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n", name.replace('"', "'"));
        out.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#dbe9f6\"];\n");
        for (i, edge) in self.edges.iter().enumerate() {
            let node = i / 2 + 2;
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                state_name(edge.input),
                state_name(node),
                edge_label(edge)
            );
        }
        for &node in &self.concat {
            let _ = writeln!(out, "  \"{}\" -> \"c_{{k}}\";", state_name(node));
        }
        out.push_str("}\n");
        out
    }

    /// The cell as a standalone SVG picture with `title` above it.
    pub fn to_svg(&self, title: &str) -> String {
        let nodes = self.edges.len() / 2;
        let height = ROW * (nodes.max(2) as f64 + 2.0);
        // Column of each state: inputs at 0, node n at n + 1, output after the last.
        let column = |state: usize| if state < 2 { 0 } else { state - 1 };
        let columns = nodes + 2;
        let x = |col: usize| 60.0 + col as f64 * (WIDTH - 160.0) / (columns - 1).max(1) as f64;
        let y = |state: usize| match state {
            0 => height / 2.0 - ROW,
            1 => height / 2.0 + ROW,
            n => 70.0 + (n - 2) as f64 * (height - 120.0) / nodes.max(1) as f64,
        };
        let mut body = String::new();
        for (i, edge) in self.edges.iter().enumerate() {
            let (from, to) = (edge.input, i / 2 + 2);
            let (x1, y1) = (x(column(from)) + NODE_W / 2.0, y(from));
            let (x2, y2) = (x(column(to)) - NODE_W / 2.0, y(to));
            let bend = if i % 2 == 0 { -18.0 } else { 18.0 };
            let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 + bend);
            // The label sits a third of the way along the curve (quadratic Bézier at
            // t = 1/3), where fewer edges crowd than near the target.
            let at = |a: f64, m: f64, b: f64| (4.0 * a + 4.0 * m + b) / 9.0;
            let (lx, ly) = (at(x1, mx, x2), at(y1, my, y2));
            let color = if edge.rule.is_some() {
                "#1f4e79"
            } else {
                "#555555"
            };
            let _ = writeln!(
                body,
                "<path d=\"M{x1:.1},{y1:.1} Q{mx:.1},{my:.1} {x2:.1},{y2:.1}\" fill=\"none\" \
                 stroke=\"{color}\" stroke-width=\"1.6\" marker-end=\"url(#arrow)\"/>\n\
                 <text x=\"{lx:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" \
                 fill=\"{color}\" stroke=\"white\" stroke-width=\"3\" \
                 paint-order=\"stroke\">{}</text>",
                ly - 4.0,
                escape(&edge_label(edge))
            );
        }
        let out_x = x(columns - 1);
        let out_y = height / 2.0;
        for &node in &self.concat {
            let (x1, y1) = (x(column(node)) + NODE_W / 2.0, y(node));
            let _ = writeln!(
                body,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{:.1}\" y2=\"{out_y:.1}\" \
                 stroke=\"#999999\" stroke-dasharray=\"4 3\" marker-end=\"url(#arrow)\"/>",
                out_x - NODE_W / 2.0
            );
        }
        let mut boxes: Vec<(f64, f64, String, &str)> = (0..nodes + 2)
            .map(|s| {
                let fill = if s < 2 { "#c6e0b4" } else { "#dbe9f6" };
                (x(column(s)), y(s), state_name(s), fill)
            })
            .collect();
        boxes.push((out_x, out_y, "c_{k}".to_string(), "#f8cbad"));
        for (cx, cy, label, fill) in boxes {
            let _ = writeln!(
                body,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\" \
                 fill=\"{fill}\" stroke=\"#333333\"/>\n<text x=\"{cx:.1}\" y=\"{:.1}\" \
                 font-size=\"13\" text-anchor=\"middle\">{}</text>",
                cx - NODE_W / 2.0,
                cy - NODE_H / 2.0,
                cy + 4.5,
                escape(&label)
            );
        }
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
             font-family=\"sans-serif\">\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" \
             refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333333\"/></marker></defs>\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{:.1}\" y=\"24\" \
             font-size=\"16\" text-anchor=\"middle\">{}</text>\n{body}</svg>\n",
            WIDTH / 2.0,
            escape(title)
        )
    }
}

impl Genotype {
    /// Both cells in one Graphviz file (two digraphs).
    pub fn to_dot(&self) -> String {
        format!(
            "{}{}",
            self.normal.to_dot("normal"),
            self.reduce.to_dot("reduce")
        )
    }

    /// Both cells as one SVG picture, the normal cell above the reduction cell.
    pub fn to_svg(&self) -> String {
        let strip = |svg: String| {
            let start = svg.find('>').map_or(0, |i| i + 1);
            let end = svg.rfind("</svg>").unwrap_or(svg.len());
            let height = svg
                .split("height=\"")
                .nth(1)
                .and_then(|h| h.split('"').next())
                .and_then(|h| h.parse::<f64>().ok())
                .unwrap_or(0.0);
            (svg[start..end].to_string(), height)
        };
        let (normal, h1) = strip(self.normal.to_svg("normal cell"));
        let (reduce, h2) = strip(self.reduce.to_svg("reduction cell"));
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\" \
             font-family=\"sans-serif\">\n<g>{normal}</g>\n<g transform=\"translate(0,{h1})\">\
             {reduce}</g>\n</svg>\n",
            h1 + h2
        )
    }
}
