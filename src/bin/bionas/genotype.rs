//! Naming a genotype on the command line: a known cell, a JSON file, or a file holding a
//! genotype string (DARTS' Python form or a NAS-Bench-201 architecture string).

use anyhow::{Context, Result, bail};
use bionas::search_space::Genotype;
use bionas::search_space::genotype::known;
use bionas::search_space::nb201::Nb201Genotype;
use std::path::Path;

/// The cells known by name.
pub const KNOWN: [&str; 2] = ["biodarts", "darts_v2"];

/// A genotype of either search space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyGenotype {
    /// A DARTS genotype: a normal and a reduction cell.
    Darts(Genotype),
    /// A NAS-Bench-201 cell.
    Nb201(Nb201Genotype),
}

impl AnyGenotype {
    /// Parses a genotype string: NAS-Bench-201 when it starts with `|`, else DARTS'
    /// Python form.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        Ok(if text.starts_with('|') {
            Self::Nb201(text.parse()?)
        } else {
            Self::Darts(Genotype::from_darts(text)?)
        })
    }

    /// The genotype string: DARTS' Python form or the NAS-Bench-201 architecture string.
    pub fn text(&self) -> String {
        match self {
            Self::Darts(g) => g.to_string(),
            Self::Nb201(g) => g.to_string(),
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        match self {
            Self::Darts(g) => g.to_json(),
            Self::Nb201(g) => g.to_json(),
        }
    }

    /// The cells as an SVG picture.
    pub fn to_svg(&self) -> String {
        match self {
            Self::Darts(g) => g.to_svg(),
            Self::Nb201(g) => g.to_svg(),
        }
    }

    /// The cells as Graphviz DOT.
    pub fn to_dot(&self) -> String {
        match self {
            Self::Darts(g) => g.to_dot(),
            Self::Nb201(g) => g.to_dot(),
        }
    }
}

/// The genotype `spec` names: `biodarts`, `darts_v2`, or a file (JSON, or a genotype
/// string).
pub fn resolve_any(spec: &str) -> Result<AnyGenotype> {
    match spec {
        "biodarts" => Ok(AnyGenotype::Darts(known::biodarts())),
        "darts_v2" => Ok(AnyGenotype::Darts(known::darts_v2())),
        path => read_file(Path::new(path)),
    }
}

/// The DARTS genotype `spec` names (what the final network is built from).
pub fn resolve(spec: &str) -> Result<Genotype> {
    match resolve_any(spec)? {
        AnyGenotype::Darts(genotype) => Ok(genotype),
        AnyGenotype::Nb201(_) => {
            bail!("{spec} is a NAS-Bench-201 cell; training builds DARTS networks only")
        }
    }
}

/// Reads a genotype file: JSON (text starting with `{`; a NAS-Bench-201 cell when it has
/// `edges` at the top) or a genotype string.
pub fn read_file(path: &Path) -> Result<AnyGenotype> {
    let text = std::fs::read_to_string(path).with_context(|| {
        let names = KNOWN.join(", ");
        format!(
            "cannot read genotype file {} (a genotype is a file or one of: {names})",
            path.display()
        )
    })?;
    // A byte-order mark, as some editors write, is not part of the genotype.
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let invalid = || format!("{}: not a valid genotype", path.display());
    if !trimmed.starts_with(['{', '[']) {
        return AnyGenotype::parse(trimmed).with_context(invalid);
    }
    let value: serde_json::Value = serde_json::from_str(trimmed)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    if value.get("edges").is_some() {
        let genotype = Nb201Genotype::from_json(trimmed).with_context(invalid)?;
        Ok(AnyGenotype::Nb201(genotype))
    } else {
        Ok(AnyGenotype::Darts(
            Genotype::from_json(trimmed).with_context(invalid)?,
        ))
    }
}
