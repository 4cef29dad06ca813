//! `bionas import`: genotype strings written by other tools, to genotype JSON.
//!
//! Two notations are told apart by their first character: DARTS' Python form
//! (`Genotype(normal=[('sep_conv_3x3_u', 0), ...], ...)`, rule suffixes such as `_u`,
//! `_br`, `_fr`, `_fa`) and NAS-Bench-201 architecture strings (`|nor_conv_3x3~0|+|...|`).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};

use crate::genotype::AnyGenotype;
use crate::output::{print_stdout, write_file};

/// Examples of `bionas import --help`.
const EXAMPLES: &str = "Examples:
  bionas import genotype.txt --out genotype.json
  bionas import \"Genotype(normal=[('sep_conv_3x3_u', 0), ('skip_connect', 1), \\
    ('sep_conv_3x3_fr', 0), ('sep_conv_3x3_u', 1), ('skip_connect', 0), \\
    ('sep_conv_3x3_u', 1), ('skip_connect', 0), ('dil_conv_3x3_br', 2)], \\
    normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), \\
    ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), \\
    ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=range(2, 6))\"

  bionas import '|nor_conv_3x3_fa~0|+|skip_connect~0|nor_conv_1x1_u~1|+|none~0|\
    avg_pool_3x3~1|nor_conv_3x3_fr~2|' --out nb201.json

Rule suffixes: _bp, _fa, _u (uSF), _br (brSF), _fr (frSF), _dfa, _hebb; an operation
with weights and no suffix learns by back-propagation.";

/// Arguments of `bionas import`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ImportArgs {
    /// The genotype string, or a file holding it.
    #[arg(value_name = "TEXT|FILE")]
    pub input: String,
    /// Write the JSON to this file instead of standard output.
    #[arg(long, value_name = "FILE.json")]
    pub out: Option<PathBuf>,
}

/// Runs `bionas import`.
pub fn run(args: &ImportArgs) -> Result<()> {
    let (text, origin) = input_text(&args.input)?;
    let genotype = AnyGenotype::parse(&text).with_context(|| format!("cannot import {origin}"))?;
    let json = genotype.to_json();
    match &args.out {
        Some(path) => {
            write_file(path, json.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => print_stdout(&json)?,
    }
    Ok(())
}

/// The text to import and how to name it in messages: a file's content, or the argument.
fn input_text(input: &str) -> Result<(String, String)> {
    let path = Path::new(input);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok((text.trim().to_string(), path.display().to_string()));
    }
    let text = input.trim();
    if text.starts_with("Genotype") || text.starts_with('|') {
        return Ok((text.to_string(), "the genotype string".to_string()));
    }
    bail!(
        "`{input}` is neither a file nor a genotype string (DARTS' `Genotype(...)` or a \
         NAS-Bench-201 `|op~0|+|...|`)"
    )
}
