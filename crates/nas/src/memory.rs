//! A memory budget for the whole process, so that a batch too large for the machine ends
//! with a message naming the setting instead of a silent kill.
//!
//! On Linux a process that outgrows the machine's memory is usually killed by the kernel
//! (`SIGKILL`, nothing printed). [`Budgeted`] wraps the global allocator: it counts the
//! bytes the process holds and, when an allocation would take it past the budget, prints
//! what was running, the batch size, the budget and what to try, then refuses the
//! allocation (the process then aborts, as on any allocation failure in Rust). The last
//! checkpoint, written atomically at the end of the previous epoch, is untouched.
//!
//! Install it in a binary, then call [`enable`] once at start-up:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: nas::memory::Budgeted<std::alloc::System> =
//!     nas::memory::Budgeted::new(std::alloc::System);
//!
//! fn main() {
//!     nas::memory::enable();
//!     // ...
//! }
//! ```
//!
//! The budget is `BIONAS_MEMORY_LIMIT` when set (bytes, or with a `K`, `M` or `G`
//! suffix), otherwise what the process holds at start-up plus the memory the system
//! reports available (`MemAvailable` in `/proc/meminfo`, capped by a cgroup's
//! `memory.max`), less 5% of it as a margin. Without [`enable`], or with another
//! allocator, nothing is enforced.
//!
//! Memory a GPU backend allocates on the device is not counted: when it runs out, the GPU
//! runtime (CubeCL's memory pools, wgpu, the CUDA driver) panics. [`enable`] also installs
//! [`install_device_hook`], a panic hook that follows such a panic's usual report with the
//! same advice as a refused allocation; [`device_advice`] is its test.

use std::alloc::{GlobalAlloc, Layout};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// Bytes held through [`Budgeted`].
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Largest value `LIVE` reached.
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The budget in bytes; 0 for none.
static LIMIT: AtomicUsize = AtomicUsize::new(0);
/// Allocations refused so far.
static REFUSED: AtomicUsize = AtomicUsize::new(0);
/// What the process is doing: 0 nothing said, 1 a search, 2 a training run.
static TASK: AtomicU8 = AtomicU8::new(0);
/// The batch size of that task.
static BATCH: AtomicUsize = AtomicUsize::new(0);
/// Set while a refusal is being reported (its own allocations pass unchecked).
static REPORTING: AtomicBool = AtomicBool::new(false);
/// Set once a refusal has been reported: the message is printed once per process.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// The environment variable that sets the budget.
pub const LIMIT_VARIABLE: &str = "BIONAS_MEMORY_LIMIT";

/// A global allocator that enforces the process's memory budget; see the module docs.
#[derive(Debug)]
pub struct Budgeted<A> {
    inner: A,
}

impl<A> Budgeted<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }
}

/// Counts `size` more bytes, unless that passes the budget.
fn claim(size: usize) -> bool {
    let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    let limit = LIMIT.load(Ordering::Relaxed);
    if limit != 0 && now > limit && !REPORTING.load(Ordering::Relaxed) {
        LIVE.fetch_sub(size, Ordering::Relaxed);
        REFUSED.fetch_add(1, Ordering::Relaxed);
        // A single request larger than the whole budget is a length read from damaged
        // data far more often than real growth; its caller gets the refusal silently.
        if size <= limit {
            report(size, now - size, limit);
        }
        return false;
    }
    PEAK.fetch_max(now, Ordering::Relaxed);
    true
}

fn release(size: usize) {
    LIVE.fetch_sub(size, Ordering::Relaxed);
}

// SAFETY: every method forwards to `inner` with the caller's layout and pointer unchanged;
// the wrapper only counts sizes and may return null, which `GlobalAlloc` allows.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Budgeted<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !claim(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let ptr = unsafe { self.inner.alloc(layout) };
        if ptr.is_null() {
            release(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !claim(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if ptr.is_null() {
            release(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `inner` with this layout.
        unsafe { self.inner.dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !claim(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`; `ptr` came from `inner` with `layout`.
        let out = unsafe { self.inner.realloc(ptr, layout, new_size) };
        match (out.is_null(), new_size > old) {
            (true, true) => release(new_size - old),
            (false, false) => release(old - new_size),
            _ => {}
        }
        out
    }
}

/// Sets the budget from [`LIMIT_VARIABLE`] or the system (see the module docs); returns it
/// in bytes, or `None` when neither gives one. Call it once, early.
pub fn enable() -> Option<usize> {
    let limit = match std::env::var(LIMIT_VARIABLE) {
        Ok(text) => {
            let limit = parse_size(&text);
            if limit.is_none() {
                eprintln!(
                    "warning: {LIMIT_VARIABLE}={text:?} is not a size (bytes, or with a K, M \
                     or G suffix, e.g. 12G); no memory budget is enforced"
                );
            }
            limit
        }
        Err(_) => system_available().map(|available| {
            let margin = available / 20;
            LIVE.load(Ordering::Relaxed) + available - margin
        }),
    };
    set_limit(limit);
    install_device_hook();
    limit
}

/// Fragments of the panic messages with which GPU runtimes report that device memory ran
/// out, lower case: CubeCL's pools, wgpu's allocator and validation errors, the CUDA driver.
const DEVICE_OUT_OF_MEMORY: [&str; 7] = [
    "out of memory",
    "outofmemory",
    "out_of_memory",
    "no pool handles allocation",
    "no memory pool big enough",
    "not enough memory left",
    "buffertoobig",
];

/// The advice to print after a panic whose message says the device ran out of memory, or
/// `None` for any other panic.
pub fn device_advice(panic_message: &str) -> Option<String> {
    let lower = panic_message.to_lowercase();
    if !DEVICE_OUT_OF_MEMORY.iter().any(|f| lower.contains(f)) {
        return None;
    }
    let mut out = String::from("error: out of memory on the device");
    if let Some(task) = task_name() {
        out.push_str(" during ");
        out.push_str(task);
    }
    let _ = advise(&mut out);
    out.push('.');
    Some(out)
}

/// Adds [`device_advice`] to the report of every panic whose message calls for it, after
/// the hook installed before (the usual report). Installed once per process.
pub fn install_device_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::Relaxed) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let message = crate::error::panic_text(info.payload());
        if let Some(advice) = message.and_then(device_advice) {
            eprintln!("{advice}");
        }
    }));
}

/// Sets (or, with `None`, removes) the budget in bytes.
pub fn set_limit(limit: Option<usize>) {
    LIMIT.store(limit.unwrap_or(0), Ordering::Relaxed);
}

/// The budget in bytes, if one is set.
pub fn limit() -> Option<usize> {
    Some(LIMIT.load(Ordering::Relaxed)).filter(|&l| l != 0)
}

/// Bytes the process holds through [`Budgeted`] (0 when it is not the global allocator).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The most bytes held at once so far.
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Allocations refused for the budget so far.
pub fn refused() -> usize {
    REFUSED.load(Ordering::Relaxed)
}

/// What is running, for the message of a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// An architecture search with this batch size.
    Search {
        /// `SearchConfig::batch_size`.
        batch_size: usize,
    },
    /// Training (retraining a genotype) with this batch size.
    Train {
        /// `TrainConfig::batch_size`.
        batch_size: usize,
    },
}

/// Records what is running (the search and training loops call it).
pub fn set_task(task: Task) {
    let (code, batch) = match task {
        Task::Search { batch_size } => (1, batch_size),
        Task::Train { batch_size } => (2, batch_size),
    };
    BATCH.store(batch, Ordering::Relaxed);
    TASK.store(code, Ordering::Relaxed);
}

/// A byte count like `512M`, `2G`, `1048576` or `1.5G`.
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (number, scale) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&text[..i], 1 << 20),
        (i, 'g' | 'G') => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value > 0.0).then_some((value * scale as f64) as usize)
}

/// `MemAvailable`, capped by the cgroup's `memory.max` less its `memory.current`.
fn system_available() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<usize>()
        .ok()?
        * 1024;
    let read = |name: &str| -> Option<usize> {
        let text = std::fs::read_to_string(format!("/sys/fs/cgroup/{name}")).ok()?;
        text.trim().parse().ok()
    };
    let used = read("memory.current").unwrap_or(0);
    let cgroup = read("memory.max").map(|max| max.saturating_sub(used));
    Some(cgroup.map_or(available, |room| available.min(room)))
}

/// A formatter into a fixed buffer: reporting must not allocate.
struct Buffer {
    bytes: [u8; 640],
    len: usize,
}

impl std::fmt::Write for Buffer {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.bytes.len() - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// What is running, as [`set_task`] last said.
fn task_name() -> Option<&'static str> {
    match TASK.load(Ordering::Relaxed) {
        1 => Some("the search"),
        2 => Some("training"),
        _ => None,
    }
}

/// What to try, when the running task's batch size is known (without allocating).
fn advise(out: &mut impl std::fmt::Write) -> std::fmt::Result {
    let batch = BATCH.load(Ordering::Relaxed);
    if batch == 0 {
        return Ok(());
    }
    write!(
        out,
        ". Lower the batch size (batch_size = {batch}, the --batch-size flag) and start \
         again, or lower channels or cells; the last checkpoint is intact"
    )
}

/// Prints why an allocation of `size` bytes was refused (once per process).
fn report(size: usize, live: usize, limit: usize) {
    if REPORTED.swap(true, Ordering::Relaxed) {
        return;
    }
    REPORTING.store(true, Ordering::Relaxed);
    use std::fmt::Write as _;
    let mut out = Buffer {
        bytes: [0; 640],
        len: 0,
    };
    let _ = write!(
        out,
        "error: out of memory: {} holds {:.1} MiB and asked for {:.1} MiB more, past its \
         budget of {:.0} MiB",
        task_name().unwrap_or("the process"),
        mib(live),
        mib(size),
        mib(limit)
    );
    let _ = advise(&mut out);
    let _ = writeln!(
        out,
        ". The budget is the memory this machine had available, or {LIMIT_VARIABLE}."
    );
    let _ = std::io::stderr().write_all(&out.bytes[..out.len]);
    REPORTING.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size(" 2g "), Some(2 << 30));
        assert_eq!(parse_size("1.5K"), Some(1536));
        for bad in ["", "-1G", "0", "lots", "G", "NaN"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_system_reports_some_memory() {
        if std::path::Path::new("/proc/meminfo").exists() {
            let available = system_available().expect("MemAvailable");
            assert!(available > 1 << 20, "{available}");
        }
    }
}
