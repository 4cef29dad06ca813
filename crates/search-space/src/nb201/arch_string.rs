//! NAS-Bench-201's architecture string, with learning rules as name suffixes.
//!
//! `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`: one `|`-delimited group per node, separated by
//! `+`, each entry an operation and, after `~`, the node it reads. A convolution's rule
//! is a suffix of its name, as in DARTS' text form: `_bp`, `_fa`, `_u` (uSF), `_br`
//! (brSF), `_fr` (frSF), `_dfa`, `_hebb`. A convolution without a suffix learns by BP,
//! so NAS-Bench-201's own strings read as BP networks; BP is written without a suffix
//! for the same reason. Parsing what [`Display`] writes gives the genotype back, and
//! writing a parsed NAS-Bench-201 string gives the string back.

use std::fmt::{self, Display};
use std::str::FromStr;

use bio_rules::LearningRule;

use super::{NODES, Nb201Candidate, Nb201Genotype, Nb201Operation};
use crate::SpaceError;

/// The name suffix of each rule.
const RULE_SUFFIXES: [(LearningRule, &str); 7] = [
    (LearningRule::Bp, "bp"),
    (LearningRule::Fa, "fa"),
    (LearningRule::Usf, "u"),
    (LearningRule::Brsf, "br"),
    (LearningRule::Frsf, "fr"),
    (LearningRule::Dfa, "dfa"),
    (LearningRule::Hebbian, "hebb"),
];

/// How many characters of the text an error quotes.
const NEAR_CHARS: usize = 24;

fn suffix(rule: LearningRule) -> &'static str {
    RULE_SUFFIXES
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or("", |(_, s)| s)
}

/// The name of one edge in the string: the operation, then `_suffix` unless BP.
fn edge_name(candidate: Nb201Candidate) -> String {
    match candidate.rule {
        Some(rule) if rule != LearningRule::Bp => {
            format!("{}_{}", candidate.op.name(), suffix(rule))
        }
        _ => candidate.op.name().to_string(),
    }
}

impl Display for Nb201Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut edges = self.edges.iter();
        for node in 1..NODES {
            if node > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for input in 0..node {
                let candidate = edges.next().copied().ok_or(fmt::Error)?;
                write!(f, "{}~{input}|", edge_name(candidate))?;
            }
        }
        Ok(())
    }
}

impl FromStr for Nb201Genotype {
    type Err = SpaceError;

    /// Parses an architecture string (see the [`nb201`](crate::nb201) module docs), then
    /// validates it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut cursor = Cursor { text, pos: 0 };
        let edges = cursor.cell()?;
        let genotype = Self { edges };
        genotype.validate()?;
        Ok(genotype)
    }
}

/// A position in the text, with errors that say where.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn error(&self, reason: impl Into<String>) -> SpaceError {
        SpaceError::Nb201Syntax {
            position: self.pos,
            reason: reason.into(),
            near: self.text[self.pos..].chars().take(NEAR_CHARS).collect(),
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn expect(&mut self, c: char, why: impl FnOnce() -> String) -> Result<(), SpaceError> {
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(self.error(why()))
        }
    }

    /// The whole string: three nodes, nothing after.
    fn cell(&mut self) -> Result<[Nb201Candidate; super::EDGES], SpaceError> {
        if self.text.trim().is_empty() {
            return Err(self.error("the architecture string is empty"));
        }
        let mut edges = Vec::with_capacity(super::EDGES);
        for node in 1..NODES {
            if node > 1 {
                let prev = node - 1;
                self.expect('+', || {
                    format!("expected `+` before node {node} (node {prev} reads {prev} node(s))")
                })?;
            }
            self.expect('|', || format!("expected `|` opening node {node}"))?;
            for input in 0..node {
                edges.push(self.edge(node, input)?);
                self.expect('|', || {
                    format!("expected `|` after the edge {node} <- {input}")
                })?;
            }
        }
        if !self.rest().is_empty() {
            let reason = if self.rest().starts_with('+') {
                format!(
                    "a cell has {} nodes after its input; found another",
                    NODES - 1
                )
            } else {
                "text after the last node".to_string()
            };
            return Err(self.error(reason));
        }
        edges
            .try_into()
            .map_err(|_| self.error("internal: wrong number of edges"))
    }

    /// `name~input` for the edge `node ← input`.
    fn edge(&mut self, node: usize, input: usize) -> Result<Nb201Candidate, SpaceError> {
        let len = self
            .rest()
            .find(['~', '|', '+'])
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error(format!(
                "expected the operation of edge {node} <- {input} (node {node} reads nodes \
                 0 to {} in order)",
                node - 1
            )));
        }
        let text = self.text;
        let name = &text[self.pos..self.pos + len];
        let candidate = split_name(name).map_err(|reason| self.error(reason))?;
        self.pos += len;
        self.expect('~', || {
            format!("expected `~` and the input node after `{name}`")
        })?;
        let digits = self.rest().find(|c: char| !c.is_ascii_digit());
        let len = digits.unwrap_or(self.rest().len());
        let found: Option<usize> = self.rest()[..len].parse().ok();
        if found != Some(input) {
            let found = &self.rest()[..len];
            return Err(self.error(format!(
                "node {node}'s edge {} must read node {input} (inputs 0 to {} in order), \
                 found `{found}`",
                input + 1,
                node - 1
            )));
        }
        self.pos += len;
        Ok(candidate)
    }
}

/// An edge name: a plain operation (a convolution then learns by BP), or a convolution
/// with a rule suffix.
fn split_name(name: &str) -> Result<Nb201Candidate, String> {
    if let Ok(op) = Nb201Operation::from_str(name) {
        let rule = op.is_conv().then_some(LearningRule::Bp);
        return Ok(Nb201Candidate { op, rule });
    }
    let unknown = || {
        format!(
            "unknown operation `{name}`: expected none, skip_connect, nor_conv_1x1, \
             nor_conv_3x3 or avg_pool_3x3, a convolution optionally with a rule suffix"
        )
    };
    let (base, tail) = name.rsplit_once('_').ok_or_else(unknown)?;
    let op = Nb201Operation::from_str(base).map_err(|_| unknown())?;
    let Some(&(rule, _)) = RULE_SUFFIXES.iter().find(|(_, s)| *s == tail) else {
        return Err(format!(
            "`{name}`: unknown rule suffix `_{tail}` (expected _bp, _fa, _u, _br, _fr, _dfa \
             or _hebb)"
        ));
    };
    if !op.is_conv() {
        return Err(format!(
            "`{name}`: `{base}` has no weights, so it takes no rule"
        ));
    }
    Ok(Nb201Candidate::with_rule(op, rule))
}
