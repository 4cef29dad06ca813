//! Checkpoints: every piece of a run's state in one file, written atomically.
//!
//! A checkpoint is a list of named sections (the model's record, each optimiser's record,
//! the loop's position and history as JSON, a strategy's own state). They are framed in
//! one file, so a kill can never leave a model from one epoch beside an optimiser from
//! another:
//!
//! ```text
//! "BIONASCK" · u32 version · u32 sections · { u32 name length · name · u64 length · bytes }*
//!            · u64 checksum
//! ```
//!
//! All integers little-endian; the checksum is the 64-bit FNV-1a hash of every byte before
//! it. Reading checks the magic, the version, every length, that nothing follows the last
//! section and the checksum, so a damaged byte anywhere is reported, not loaded.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{BinBytesRecorder, BurnRecord, FullPrecisionSettings, Record, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::record_guard::Checked;
use crate::{NasError, Result, RunDir};

const MAGIC: &[u8; 8] = b"BIONASCK";
const VERSION: u32 = 2;

/// The 64-bit FNV-1a hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Named byte sections, saved and loaded as one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bundle {
    sections: Vec<(String, Vec<u8>)>,
}

impl Bundle {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a section.
    pub fn put(&mut self, name: &str, bytes: Vec<u8>) {
        self.sections.retain(|(n, _)| n != name);
        self.sections.push((name.to_string(), bytes));
    }

    /// The bytes of a section.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }

    /// The bytes of a section that must be there.
    pub fn require(&self, name: &str, path: &Path) -> Result<&[u8]> {
        self.get(name)
            .ok_or_else(|| corrupt(path, format!("the section `{name}` is missing")))
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        for (name, bytes) in &self.sections {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        let checksum = fnv1a(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Parses a file's bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(corrupt(
                path,
                "not a bionas checkpoint (wrong magic bytes)".into(),
            ));
        }
        let Some(body_len) = bytes.len().checked_sub(8).filter(|&n| n >= 16) else {
            return Err(corrupt(
                path,
                format!("truncated: only {} bytes", bytes.len()),
            ));
        };
        let (body, tail) = bytes.split_at(body_len);
        let mut stored = [0; 8];
        stored.copy_from_slice(tail);
        if fnv1a(body) != u64::from_le_bytes(stored) {
            let reason = "damaged or truncated: the checksum does not match its contents";
            return Err(corrupt(path, reason.into()));
        }
        let bytes = body;
        let mut reader = Reader { bytes, at: 0, path };
        if reader.take(8)? != MAGIC {
            return Err(corrupt(
                path,
                "not a bionas checkpoint (wrong magic bytes)".into(),
            ));
        }
        let version = reader.u32()?;
        if version != VERSION {
            let reason = format!("checkpoint format version {version}, expected {VERSION}");
            return Err(corrupt(path, reason));
        }
        let count = reader.u32()?;
        let mut sections = Vec::new();
        for _ in 0..count {
            let len = reader.u32()? as usize;
            let name = std::str::from_utf8(reader.take(len)?)
                .map_err(|_| corrupt(path, "a section name is not UTF-8".into()))?
                .to_string();
            let len = reader.u64()?;
            let len = usize::try_from(len)
                .map_err(|_| corrupt(path, format!("section `{name}` too large")))?;
            sections.push((name, reader.take(len)?.to_vec()));
        }
        if reader.at != bytes.len() {
            let extra = bytes.len() - reader.at;
            return Err(corrupt(
                path,
                format!("{extra} unexpected bytes after the end"),
            ));
        }
        Ok(Self { sections })
    }

    /// Writes the bundle to `name` in `run`, atomically.
    pub fn save(&self, run: &RunDir, name: &str) -> Result<()> {
        run.write_atomic(name, &self.to_bytes())
    }

    /// Reads a bundle file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| NasError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(len).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            let reason = format!(
                "truncated: {len} bytes expected at offset {}, the file has {}",
                self.at,
                self.bytes.len()
            );
            return Err(corrupt(self.path, reason));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

pub(crate) fn corrupt(path: &Path, reason: String) -> NasError {
    NasError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    }
}

/// A record (a module's or an optimiser's) as bytes, full precision.
pub fn record_to_bytes<B: Backend, R: Record<B>>(record: R) -> Result<Vec<u8>> {
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    Recorder::<B>::record(&recorder, record, ()).map_err(|e| NasError::Checkpoint {
        path: Default::default(),
        reason: format!("cannot encode a record: {e}"),
    })
}

/// The record written by [`record_to_bytes`]; `path` and `what` name it in errors.
///
/// Burn's own loader trusts every length inside the record: a forged string or buffer
/// length made it allocate whatever it said (a few bytes could ask for exabytes). The
/// record is decoded here instead, with a limit on what the decoder may claim of about
/// twice the record's size (rounded up to one of a few steps), so a damaged length is an
/// error; and every tensor's shape is checked against its data before Burn sizes a
/// buffer by it. Burn's tensor code can still panic on inconsistent data (a buffer whose
/// size does not fit its element type); that panic is caught and returned as an error
/// (the default panic hook still prints its message).
pub fn record_from_bytes<B: Backend, R: Record<B>>(
    bytes: &[u8],
    device: &B::Device,
    path: &Path,
    what: &str,
) -> Result<R> {
    let record = guarded(path, what, || limited::<B, R>(bytes))?.map_err(|reason| {
        corrupt(
            path,
            format!("the {what} is damaged or belongs to another network: {reason}"),
        )
    })?;
    guarded(path, what, || R::from_item(record.item, device))
}

/// The reason of a decoding error, without the note Burn appends to every one (about
/// records older than Burn 0.14, which is not the cause here).
fn decode_reason(error: bincode::error::DecodeError) -> String {
    let text = error.to_string();
    if text.contains("LimitExceeded") {
        return "a length inside it is larger than the record itself".into();
    }
    if text.contains("UnexpectedEnd") {
        return "it ends before the record does (truncated)".into();
    }
    // Burn wraps the cause, escaped, in `OtherString("…\nThe internal data format…")`.
    let mut text = text.as_str();
    while let Some(rest) = text.strip_prefix("OtherString(") {
        text = rest.trim_start_matches(['\\', '"']);
    }
    let end = ["\\", "\n", "\""]
        .iter()
        .filter_map(|stop| text.find(stop))
        .min()
        .unwrap_or(text.len());
    text[..end].trim_end_matches(')').to_string()
}

/// [`decode`] with the smallest limit step that is at least twice `bytes` plus 1 MiB.
fn limited<B: Backend, R: Record<B>>(
    bytes: &[u8],
) -> std::result::Result<BurnRecord<R::Item<FullPrecisionSettings>, B>, String> {
    match bytes.len().saturating_mul(2).saturating_add(1 << 20) {
        n if n <= 1 << 22 => decode::<B, R, { 1 << 22 }>(bytes),
        n if n <= 1 << 25 => decode::<B, R, { 1 << 25 }>(bytes),
        n if n <= 1 << 28 => decode::<B, R, { 1 << 28 }>(bytes),
        n if n <= 1 << 31 => decode::<B, R, { 1 << 31 }>(bytes),
        n if n <= 1 << 34 => decode::<B, R, { 1 << 34 }>(bytes),
        _ => Err(format!(
            "{} bytes, more than a checkpoint can hold",
            bytes.len()
        )),
    }
}

/// Decodes Burn's record format (bincode, standard configuration), claiming at most
/// `LIMIT` bytes, and refuses bytes left over after the record.
fn decode<B: Backend, R: Record<B>, const LIMIT: usize>(
    bytes: &[u8],
) -> std::result::Result<BurnRecord<R::Item<FullPrecisionSettings>, B>, String> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    let (Checked(record), used) =
        bincode::serde::borrow_decode_from_slice(bytes, config).map_err(decode_reason)?;
    if used != bytes.len() {
        return Err(format!(
            "{} unexpected bytes after its end",
            bytes.len() - used
        ));
    }
    Ok(record)
}

thread_local! {
    /// Set while [`guarded`] runs on this thread: its panics become errors, unprinted.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once per process, a panic hook that keeps quiet about the panics [`guarded`]
/// turns into errors and hands every other panic to the hook installed before it.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic (Burn's record code panics on damaged or mismatched
/// records) into a checkpoint error about `what` in `path`; the panic itself is not
/// printed.
pub fn guarded<T>(path: &Path, what: &str, f: impl FnOnce() -> T) -> Result<T> {
    install_quiet_hook();
    let was_quiet = QUIET.with(|q| q.replace(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was_quiet));
    outcome.map_err(|panic| {
        let message = crate::error::panic_text(panic.as_ref()).unwrap_or("no message");
        corrupt(
            path,
            format!("the {what} is damaged or belongs to another network: {message}"),
        )
    })
}

/// Loads `record` into `model`, checking that every float parameter keeps its shape
/// (Burn's loader does not check it, so a record of a wider network would load).
pub fn load_into<B: Backend, M: Module<B>>(
    model: M,
    record: M::Record,
    path: &Path,
    what: &str,
) -> Result<M> {
    let expected = shapes(&model);
    let loaded = guarded(path, what, || model.load_record(record))?;
    let found = shapes(&loaded);
    if found.len() != expected.len() {
        let reason = format!(
            "the {what} holds {} parameters, this network {}",
            found.len(),
            expected.len()
        );
        return Err(corrupt(path, reason));
    }
    for (i, (f, e)) in found.iter().zip(&expected).enumerate() {
        if f != e {
            let reason = format!(
                "the {what} was saved from another network: parameter {i} has shape {f:?} in \
                 the file, {e:?} here"
            );
            return Err(corrupt(path, reason));
        }
    }
    Ok(loaded)
}

/// The shapes of a module's float parameters, in visiting order.
fn shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<Vec<usize>> {
    struct Shapes(Vec<Vec<usize>>);
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.lazy_shape().dims::<D>().to_vec());
        }
    }
    let mut visitor = Shapes(Vec::new());
    module.visit(&mut visitor);
    visitor.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_round_trip_and_damage_is_reported() {
        let mut bundle = Bundle::new();
        bundle.put("state", b"{\"epoch\":3}".to_vec());
        bundle.put("model", vec![7; 100]);
        let path = Path::new("run/checkpoint.bin");
        let bytes = bundle.to_bytes();
        assert_eq!(Bundle::from_bytes(&bytes, path).expect("parses"), bundle);
        let short = Bundle::from_bytes(&bytes[..bytes.len() - 1], path).expect_err("refused");
        assert!(short.to_string().contains("checksum"), "{short}");
        assert!(short.to_string().contains("run/checkpoint.bin"), "{short}");
        let mut long = bytes.clone();
        long.push(0);
        let err = Bundle::from_bytes(&long, path).expect_err("refused");
        assert!(err.to_string().contains("checksum"), "{err}");
        for at in [8, 20, bytes.len() / 2, bytes.len() - 9] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            let err = Bundle::from_bytes(&flipped, path).expect_err("a flipped bit is refused");
            assert!(err.to_string().contains("checksum"), "byte {at}: {err}");
        }
        let err = Bundle::from_bytes(b"PK\x03\x04 not ours", path).expect_err("refused");
        assert!(err.to_string().contains("magic"), "{err}");
        let err = bundle.require("optimizer", path).expect_err("refused");
        assert!(err.to_string().contains("`optimizer` is missing"), "{err}");
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        type B = burn::backend::Flex;
        let device = Default::default();
        let tensor = burn::tensor::Tensor::<B, 1>::from_floats([1.0, 2.0, 3.0], &device);
        let record = burn::module::Param::from_tensor(tensor);
        let bytes = record_to_bytes::<B, _>(record).expect("encodes");
        let path = Path::new("run/best.mpk");
        type R = burn::module::Param<burn::tensor::Tensor<B, 1>>;
        let back: R = record_from_bytes::<B, R>(&bytes, &device, path, "model").expect("decodes");
        assert_eq!(
            back.val().into_data().to_vec::<f32>().ok(),
            Some(vec![1.0, 2.0, 3.0])
        );
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            let result = record_from_bytes::<B, R>(&bytes[..cut], &device, path, "model");
            let err = result.expect_err("a truncated record is refused");
            assert!(err.to_string().contains("run/best.mpk"), "{err}");
        }
    }
}
