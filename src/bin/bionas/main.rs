//! `bionas`: the command line of the library.
//!
//! One binary for the whole workflow: draw and import genotypes, search a cell, retrain a
//! genotype into a run folder, evaluate the run's checkpoints and attack them. Each
//! subcommand lives in its own module; `bionas <command> --help` lists its flags and
//! examples.

mod attack;
mod config;
mod data;
mod eval;
mod genotype;
mod import;
mod output;
mod progress;
mod search;
mod setup;
mod show;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc, counted against the memory budget (`nas::memory`): a batch too large for
/// the machine ends with a message that names the setting, not a silent kill.
#[global_allocator]
static ALLOCATOR: nas::memory::Budgeted<mimalloc::MiMalloc> =
    nas::memory::Budgeted::new(mimalloc::MiMalloc);

/// The examples of the top-level help.
const EXAMPLES: &str = "Examples:
  bionas show biodarts --out cells.svg
  bionas import genotype.txt --out genotype.json
  bionas search --preset quick --out runs/search
  bionas train --genotype runs/search/genotype.json --out runs/train
  bionas eval runs/train
  bionas attack runs/train --attack fgsm,pgd --eps 0,2,4,8";

/// Neural architecture search with mixed bio-inspired learning rules.
#[derive(Parser, Debug)]
#[command(name = "bionas", version, after_help = EXAMPLES)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Print a genotype's text form and draw its cells as SVG and Graphviz DOT.
    Show(show::ShowArgs),
    /// Convert a DARTS-style Python genotype string (or a NAS-Bench-201 one) to JSON.
    Import(import::ImportArgs),
    /// Search a mixed-rule cell on CIFAR-10: DARTS (first or second order), EG-NAS or
    /// random search, in the DARTS or NAS-Bench-201 space; resume a stopped search.
    Search(search::SearchArgs),
    /// Retrain a genotype from scratch and write a run folder.
    Train(train::TrainArgs),
    /// Measure a trained run's validation and test accuracy from a checkpoint.
    Eval(eval::EvalArgs),
    /// Attack a trained run's model on the test set: accuracy against ε.
    Attack(attack::AttackArgs),
}

fn main() -> ExitCode {
    nas::memory::enable();
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Show(args) => show::run(args),
        Command::Import(args) => import::run(args),
        Command::Search(args) => search::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Attack(args) => attack::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, `: `-separated, leaving out a cause whose text
/// its parent's message already ends with (errors that print their source themselves).
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
