//! `bionas show`: a genotype's text form (DARTS' Python form, or NAS-Bench-201's
//! architecture string), and its cells as SVG and Graphviz DOT.

use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

use crate::genotype;
use crate::output::{print_stdout, write_file};

/// Examples of `bionas show --help`.
const EXAMPLES: &str = "Examples:
  bionas show biodarts
  bionas show biodarts --out biodarts.svg --dot biodarts.dot
  bionas show genotypes/searched_cifar10_3k.json --dot -
  bionas show my_genotype.txt --out cells.svg   # DARTS' Python form
  bionas show nb201.json --out cell.svg         # a NAS-Bench-201 cell";

/// Arguments of `bionas show`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ShowArgs {
    /// A genotype: biodarts, darts_v2, a JSON file, or a file holding DARTS' Python form
    /// or a NAS-Bench-201 architecture string.
    pub genotype: String,
    /// Write both cells as an SVG picture to this file.
    #[arg(long, value_name = "FILE.svg")]
    pub out: Option<PathBuf>,
    /// Write both cells as Graphviz DOT to this file (`-`: standard output).
    #[arg(long, value_name = "FILE.dot")]
    pub dot: Option<PathBuf>,
}

/// Runs `bionas show`.
pub fn run(args: &ShowArgs) -> Result<()> {
    let genotype = genotype::resolve_any(&args.genotype)?;
    print_stdout(&genotype.text())?;
    if let Some(path) = &args.out {
        write_file(path, genotype.to_svg().as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    match &args.dot {
        Some(path) if path == Path::new("-") => print_stdout(genotype.to_dot().trim_end())?,
        Some(path) => {
            write_file(path, genotype.to_dot().as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => {}
    }
    Ok(())
}
