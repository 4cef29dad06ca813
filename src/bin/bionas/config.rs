//! Settings in layers: a preset, then a config file (`--config`, JSON or TOML), then the
//! command-line flags.
//!
//! A file need not name every setting: what it names replaces the preset's value, what it
//! leaves out keeps it; nested tables merge the same way, except a table with a `kind`
//! (a tagged choice, such as a learning-rate schedule), which replaces the preset's whole.
//! A file is first read as the settings type itself, so that an unknown or ill-typed
//! setting is reported with serde's message, line and column, and the file's name.

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Starting settings of `search` and `train`; flags and config files override them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// A reduced run that finishes in minutes on a CPU.
    #[default]
    Quick,
    /// The paper's settings (GPU territory).
    Paper,
}

/// The syntax of a config file, by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `.json`
    Json,
    /// `.toml`
    Toml,
}

/// A config file, read and checked against its settings type.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// Where it was read.
    path: PathBuf,
    /// Its content as a JSON tree.
    value: Value,
}

impl ConfigFile {
    /// Reads `path` (`.json` or `.toml`) and checks that it describes a `T`, where every
    /// setting may be left out.
    pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Self> {
        let format = format_of(path)?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let value = match format {
            Format::Json => parse_json::<T>(&text),
            Format::Toml => parse_toml::<T>(&text),
        }
        .with_context(|| format!("invalid config file {}", path.display()))?;
        if !value.is_object() {
            bail!(
                "config file {} must hold a table of settings",
                path.display()
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
            value,
        })
    }

    /// The value at a JSON pointer such as `/data/dataset`, if the file sets it.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.value.pointer(pointer)
    }

    /// `base` with every setting this file names replaced by the file's value.
    pub fn over<T: Serialize + DeserializeOwned>(&self, base: &T) -> Result<T> {
        let mut merged = serde_json::to_value(base).context("cannot represent the preset")?;
        merge(&mut merged, &self.value);
        serde_json::from_value(merged)
            .with_context(|| format!("invalid config file {}", self.path.display()))
    }
}

/// `T` from `preset`, overridden by the file at `path` when one is given.
pub fn layered<T: Serialize + DeserializeOwned>(preset: T, path: Option<&Path>) -> Result<T> {
    match path {
        Some(path) => ConfigFile::read::<T>(path)?.over(&preset),
        None => Ok(preset),
    }
}

/// Prints settings as pretty JSON (what `--print-config` shows).
pub fn print_json<T: Serialize>(settings: &T) -> Result<()> {
    crate::output::print_stdout(&serde_json::to_string_pretty(settings)?)
}

/// Checks that JSON `text` describes a `T`, then returns its tree.
fn parse_json<T: DeserializeOwned>(text: &str) -> Result<Value> {
    serde_json::from_str::<T>(text)?;
    Ok(serde_json::from_str(text)?)
}

/// Checks that TOML `text` describes a `T`, then returns its tree.
fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<Value> {
    toml::from_str::<T>(text)?;
    Ok(toml::from_str(text)?)
}

/// The format of `path`, by its extension.
fn format_of(path: &Path) -> Result<Format> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "json" => Ok(Format::Json),
        "toml" => Ok(Format::Toml),
        _ => bail!(
            "config file {}: unknown format, expected a .json or .toml file",
            path.display()
        ),
    }
}

/// Writes `over` onto `base`: tables merge key by key, anything else (and a table with a
/// `kind`) replaces.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) if !over.contains_key("kind") => {
            merge_tables(base, over);
        }
        (base, over) => *base = over.clone(),
    }
}

/// [`merge`] of two tables.
fn merge_tables(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (key, value) in over {
        match base.get_mut(key) {
            Some(slot) => merge(slot, value),
            None => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_merge_and_tagged_tables_replace() {
        let mut base = json!({"a": 1, "t": {"x": 1, "y": 2}, "s": {"kind": "k", "p": 1}});
        let over = json!({"t": {"y": 3}, "s": {"kind": "m", "q": 2}});
        merge(&mut base, &over);
        let expected = json!({"a": 1, "t": {"x": 1, "y": 3}, "s": {"kind": "m", "q": 2}});
        assert_eq!(base, expected);
    }
}
