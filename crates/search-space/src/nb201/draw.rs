//! The NAS-Bench-201 cell as Graphviz DOT text and as an SVG picture in the style of
//! [`crate::draw`].
//!
//! The four nodes sit in a row, input on the left, output on the right. Edges between
//! neighbours are straight; longer ones arc above (`0 → 2`, `0 → 3`) or below (`1 → 3`).
//! Each edge is labelled with its operation and, for a convolution, its rule; `none`
//! edges are drawn dashed and pale.

use std::fmt::Write;

use super::{NODES, Nb201Candidate, Nb201Genotype, Nb201Operation, edge_ends};
use crate::draw::escape;
use crate::space::ArchGenotype;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 300.0;
const MARGIN: f64 = 70.0;
const NODE_W: f64 = 80.0;
const NODE_H: f64 = 32.0;
/// How far an edge spanning one node arcs away from the row of nodes.
const ARC: f64 = 55.0;

/// An edge's label: the operation, and its rule when it has weights.
fn edge_label(candidate: &Nb201Candidate) -> String {
    match candidate.rule {
        Some(rule) => format!("{} ({})", candidate.op.name(), rule.name()),
        None => candidate.op.name().to_string(),
    }
}

fn node_name(node: usize) -> String {
    match node {
        0 => "0 (in)".to_string(),
        n if n == NODES - 1 => format!("{n} (out)"),
        n => n.to_string(),
    }
}

/// Colour and dash pattern of an edge.
fn edge_style(candidate: &Nb201Candidate) -> (&'static str, &'static str) {
    if candidate.op == Nb201Operation::None {
        ("#bbbbbb", " stroke-dasharray=\"5 4\"")
    } else if candidate.rule.is_some() {
        ("#1f4e79", "")
    } else {
        ("#555555", "")
    }
}

impl Nb201Genotype {
    /// The cell as a Graphviz digraph (render with `dot -Tpng`); `none` edges dashed.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph \"nb201\" {\n  rankdir=LR;\n");
        out.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#dbe9f6\"];\n");
        for (edge, candidate) in self.edges.iter().enumerate() {
            let (from, to) = edge_ends(edge);
            let dashed = if candidate.op == Nb201Operation::None {
                ", style=dashed, color=gray"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  \"{from}\" -> \"{to}\" [label=\"{}\"{dashed}];",
                edge_label(candidate)
            );
        }
        out.push_str("}\n");
        out
    }

    /// The cell as a standalone SVG picture.
    pub fn to_svg(&self) -> String {
        let x = |node: usize| MARGIN + node as f64 * (WIDTH - 2.0 * MARGIN) / (NODES - 1) as f64;
        let y = HEIGHT / 2.0 + 40.0;
        let mut body = String::new();
        for (edge, candidate) in self.edges.iter().enumerate() {
            let (from, to) = edge_ends(edge);
            let span = (to - from) as f64;
            // Span-one edges run straight; `1 → 3` arcs below, the others above.
            let bend = match (from, to) {
                (1, 3) => ARC,
                _ if span > 1.0 => -ARC * (span - 0.5),
                _ => 0.0,
            };
            let (x1, x2) = (x(from) + NODE_W / 2.0, x(to) - NODE_W / 2.0);
            let (mx, my) = ((x1 + x2) / 2.0, y + 2.0 * bend);
            // The curve's midpoint (quadratic Bézier at t = 1/2) is where `bend` puts it.
            let (lx, ly) = (mx, y + bend);
            let (color, dash) = edge_style(candidate);
            let _ = writeln!(
                body,
                "<path d=\"M{x1:.1},{y:.1} Q{mx:.1},{my:.1} {x2:.1},{y:.1}\" fill=\"none\" \
                 stroke=\"{color}\" stroke-width=\"1.6\"{dash} marker-end=\"url(#arrow)\"/>\n\
                 <text x=\"{lx:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" \
                 fill=\"{color}\" stroke=\"white\" stroke-width=\"3\" \
                 paint-order=\"stroke\">{}</text>",
                ly - 4.0,
                escape(&edge_label(candidate))
            );
        }
        for node in 0..NODES {
            let fill = match node {
                0 => "#c6e0b4",
                n if n == NODES - 1 => "#f8cbad",
                _ => "#dbe9f6",
            };
            let _ = writeln!(
                body,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\" \
                 fill=\"{fill}\" stroke=\"#333333\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" \
                 font-size=\"13\" text-anchor=\"middle\">{}</text>",
                x(node) - NODE_W / 2.0,
                y - NODE_H / 2.0,
                x(node),
                y + 4.5,
                escape(&node_name(node))
            );
        }
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             font-family=\"sans-serif\">\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" \
             refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333333\"/></marker></defs>\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{:.1}\" y=\"24\" \
             font-size=\"16\" text-anchor=\"middle\">NAS-Bench-201 cell</text>\n{body}</svg>\n",
            WIDTH / 2.0
        )
    }
}

impl ArchGenotype for Nb201Genotype {
    fn to_svg(&self) -> String {
        Nb201Genotype::to_svg(self)
    }

    fn to_dot(&self) -> String {
        Nb201Genotype::to_dot(self)
    }
}
