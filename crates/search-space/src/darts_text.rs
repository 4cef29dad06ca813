//! Reading genotypes written in DARTS' Python form.
//!
//! ```text
//! Genotype(normal=[('sep_conv_3x3_fr', 1), ('skip_connect', 0), ...],
//!          normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=range(2, 6))
//! ```
//!
//! Keyword arguments may come in any order; quotes may be single or double; a concat is a
//! list or `range(a, b)`. A weighted operation's rule is its suffix: `_bp`, `_fa`, `_u`
//! (uSF), `_br` (brSF), `_fr` (frSF), `_dfa`, `_hebb`; without one it learns by BP, as in
//! the original DARTS files. The parsed genotype is validated like a JSON one.

use std::str::FromStr;

use bio_rules::LearningRule;

use crate::SpaceError;
use crate::genotype::{CellGenotype, Genotype, GenotypeEdge};
use crate::operation::Operation;

impl Genotype {
    /// Parses a genotype in DARTS' Python form (what [`Display`](std::fmt::Display)
    /// writes), then validates it.
    ///
    /// ```
    /// use search_space::{Genotype, genotype::known};
    /// let text = known::biodarts().to_string();
    /// assert_eq!(Genotype::from_darts(&text).expect("valid"), known::biodarts());
    /// ```
    pub fn from_darts(text: &str) -> Result<Self, SpaceError> {
        let mut parser = Parser { text, pos: 0 };
        let genotype = parser.genotype()?;
        genotype.validate()?;
        Ok(genotype)
    }
}

/// A cursor over the text, with errors that say where.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: impl Into<String>) -> SpaceError {
        let rest: String = self.text[self.pos..].chars().take(24).collect();
        SpaceError::DartsSyntax {
            position: self.pos,
            reason: reason.into(),
            near: rest,
        }
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += c.len_utf8();
        }
        found
    }

    fn expect(&mut self, c: char) -> Result<(), SpaceError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{c}`")))
        }
    }

    /// A run of ASCII letters, digits and underscores.
    fn word(&mut self) -> Result<&str, SpaceError> {
        self.skip_space();
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a name or a number"));
        }
        self.pos += len;
        Ok(&rest[..len])
    }

    fn number(&mut self) -> Result<usize, SpaceError> {
        let start = self.pos;
        let word = self.word()?.to_string();
        word.parse().map_err(|_| {
            self.pos = start;
            self.error(format!("`{word}` is not a whole number"))
        })
    }

    fn quoted(&mut self) -> Result<&str, SpaceError> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a quoted operation name")),
        };
        self.pos += 1;
        let rest = &self.text[self.pos..];
        let len = rest
            .find(quote)
            .ok_or_else(|| self.error("unterminated string"))?;
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    /// `Genotype(key=value, ...)`, the leading name optional.
    fn genotype(&mut self) -> Result<Genotype, SpaceError> {
        if self.peek() != Some('(') {
            let name = self.word()?.to_string();
            if name != "Genotype" {
                return Err(self.error(format!("expected `Genotype(`, found `{name}`")));
            }
        }
        self.expect('(')?;
        let (mut normal, mut reduce) = (None, None);
        let (mut normal_concat, mut reduce_concat) = (None, None);
        let mut seen = Vec::new();
        while !self.eat(')') {
            let key = self.word()?.to_string();
            if seen.contains(&key) {
                // Python refuses a repeated keyword argument too.
                return Err(self.error(format!("the field `{key}` is given twice")));
            }
            seen.push(key.clone());
            self.expect('=')?;
            match key.as_str() {
                "normal" => normal = Some(self.edges()?),
                "reduce" => reduce = Some(self.edges()?),
                "normal_concat" => normal_concat = Some(self.concat()?),
                "reduce_concat" => reduce_concat = Some(self.concat()?),
                other => return Err(self.error(format!("unknown field `{other}`"))),
            }
            if !self.eat(',') && self.peek() != Some(')') {
                return Err(self.error("expected `,` or `)`"));
            }
        }
        self.skip_space();
        if self.pos < self.text.len() {
            return Err(self.error("text after the closing `)`"));
        }
        let missing = |name: &str| self.error(format!("the field `{name}` is missing"));
        let cell = |edges, concat| CellGenotype { edges, concat };
        Ok(Genotype {
            normal: cell(
                normal.ok_or_else(|| missing("normal"))?,
                normal_concat.ok_or_else(|| missing("normal_concat"))?,
            ),
            reduce: cell(
                reduce.ok_or_else(|| missing("reduce"))?,
                reduce_concat.ok_or_else(|| missing("reduce_concat"))?,
            ),
        })
    }

    /// `[('name', input), ...]`.
    fn edges(&mut self) -> Result<Vec<GenotypeEdge>, SpaceError> {
        self.expect('[')?;
        let mut edges = Vec::new();
        while !self.eat(']') {
            self.expect('(')?;
            let start = self.pos;
            let name = self.quoted()?.to_string();
            let (op, rule) = split_name(&name).map_err(|reason| {
                self.pos = start;
                self.error(reason)
            })?;
            self.expect(',')?;
            let input = self.number()?;
            self.expect(')')?;
            edges.push(GenotypeEdge { op, rule, input });
            if !self.eat(',') && self.peek() != Some(']') {
                return Err(self.error("expected `,` or `]`"));
            }
        }
        Ok(edges)
    }

    /// `[2, 3, 4, 5]` or `range(2, 6)`.
    fn concat(&mut self) -> Result<Vec<usize>, SpaceError> {
        if self.eat('[') {
            let mut nodes = Vec::new();
            while !self.eat(']') {
                nodes.push(self.number()?);
                if !self.eat(',') && self.peek() != Some(']') {
                    return Err(self.error("expected `,` or `]`"));
                }
            }
            return Ok(nodes);
        }
        let word = self.word()?;
        if word != "range" {
            return Err(self.error("expected a list or `range(a, b)`"));
        }
        self.expect('(')?;
        let start = self.number()?;
        self.expect(',')?;
        let end = self.number()?;
        self.expect(')')?;
        if end.saturating_sub(start) > 64 {
            return Err(self.error("range too long for a cell"));
        }
        Ok((start..end).collect())
    }
}

/// An edge name: a plain operation, or a weighted one with a rule suffix (BP without).
fn split_name(name: &str) -> Result<(Operation, Option<LearningRule>), String> {
    if let Ok(op) = Operation::from_str(name) {
        return Ok((op, op.is_conv().then_some(LearningRule::Bp)));
    }
    let unknown = || format!("unknown operation `{name}`");
    let (base, suffix) = name.rsplit_once('_').ok_or_else(unknown)?;
    let op = Operation::from_str(base).map_err(|_| unknown())?;
    let rule = match suffix {
        "bp" => LearningRule::Bp,
        "fa" => LearningRule::Fa,
        "u" => LearningRule::Usf,
        "br" => LearningRule::Brsf,
        "fr" => LearningRule::Frsf,
        "dfa" => LearningRule::Dfa,
        "hebb" => LearningRule::Hebbian,
        _ => return Err(format!("`{name}`: unknown rule suffix `_{suffix}`")),
    };
    if !op.is_conv() {
        return Err(format!("`{name}`: `{base}` has no weights, so no rule"));
    }
    Ok((op, Some(rule)))
}
