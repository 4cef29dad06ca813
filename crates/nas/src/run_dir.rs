//! The files a search writes: its settings, the genotype after every epoch and the metrics.

use serde::Serialize;
use std::fs::{self, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{NasError, Result};

/// The name of the lock file in a run folder.
pub const LOCK_FILE: &str = ".lock";

/// The output folder of one run.
///
/// While a `RunDir` (or a clone of it) lives, it holds an exclusive lock on the folder's
/// [`LOCK_FILE`], so a second run pointed at the same folder is refused with
/// [`NasError::Busy`] instead of mixing its files with the first. The operating system
/// drops the lock when the process ends, however it ends.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: Arc<fs::File>,
}

impl RunDir {
    /// Creates (or opens an empty) folder for a new run; refuses one that already holds a
    /// run, so two runs never mix their files.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        fs::create_dir_all(&path).map_err(|source| NasError::Io {
            path: path.clone(),
            source,
        })?;
        let lock = lock(&path)?;
        if path.join("config.json").exists() {
            return Err(NasError::OutputExists { path });
        }
        Ok(Self { path, _lock: lock })
    }

    /// Opens the folder of an existing run (to resume it or read its files).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.join("config.json").is_file() {
            return Err(NasError::Resume {
                path,
                reason: "no config.json: not the folder of a run".to_string(),
            });
        }
        let lock = lock(&path)?;
        Ok(Self { path, _lock: lock })
    }

    /// Reads the JSON file `name` of the run.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.path.join(name);
        let text = fs::read_to_string(&path).map_err(|source| NasError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| NasError::Resume {
            path,
            reason: format!("not valid: {e}"),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `value` as pretty JSON to `name`, atomically (temporary file, then rename).
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(|e| self.io_error(name, e))?;
        self.write_atomic(name, text.as_bytes())
    }

    /// Writes `bytes` to `name` atomically.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = self.path.join(name);
        let tmp = self.path.join(format!(".{name}.tmp"));
        let io = |source| NasError::Io {
            path: target.clone(),
            source,
        };
        let mut file = fs::File::create(&tmp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, &target).map_err(io)?;
        sync_folder(&self.path).map_err(io)
    }

    /// Appends one line to `name`.
    pub fn append_line(&self, name: &str, line: &str) -> Result<()> {
        let target = self.path.join(name);
        let io = |source| NasError::Io {
            path: target.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)
            .map_err(io)?;
        writeln!(file, "{line}").map_err(io)
    }

    fn io_error(&self, name: &str, e: serde_json::Error) -> NasError {
        NasError::Io {
            path: self.path.join(name),
            source: std::io::Error::other(e),
        }
    }
}

/// Takes the lock of the run folder `dir`, writing this process's id into the lock file.
fn lock(dir: &Path) -> Result<Arc<fs::File>> {
    let path = dir.join(LOCK_FILE);
    let io = |source| NasError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            Ok(Arc::new(file))
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let holder = match file.read_to_string(&mut text) {
                Ok(_) if text.trim().parse::<u32>().is_ok() => format!("process {}", text.trim()),
                _ => "another process".to_string(),
            };
            Err(NasError::Busy {
                path: dir.to_path_buf(),
                holder,
            })
        }
        Err(TryLockError::Error(source)) => Err(io(source)),
    }
}

/// Makes a rename inside `dir` durable (a no-op where folders cannot be opened as files).
fn sync_folder(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
