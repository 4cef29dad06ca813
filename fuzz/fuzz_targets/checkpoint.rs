//! Checkpoint files: the framing (magic, version, section lengths, checksum) and the Burn
//! record inside the `model` section. Any bytes give a checkpoint or an error; no panic
//! escapes and nothing allocates far beyond the input.
#![no_main]

use std::cell::Cell;
use std::path::Path;
use std::sync::Once;

use burn::backend::Flex;
use burn::module::Param;
use burn::tensor::Tensor;
use libfuzzer_sys::fuzz_target;
use nas::checkpoint::{Bundle, record_from_bytes};

type Record = Param<Tensor<Flex, 2>>;

/// The allocator the command line uses, with a 1 GiB budget: Burn's decoder reserves
/// whatever a damaged length says (a shape of 2^61 dimensions), which the budget refuses
/// before it reaches the system allocator, as it does in the `bionas` binary.
#[global_allocator]
static ALLOCATOR: nas::memory::Budgeted<std::alloc::System> =
    nas::memory::Budgeted::new(std::alloc::System);

static QUIET: Once = Once::new();

thread_local! {
    /// Set while `record_from_bytes` runs: panics it catches itself are expected.
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

/// Decodes a record; a panic that `record_from_bytes` catches is not a finding.
fn decode(bytes: &[u8], path: &Path) {
    DECODING.with(|d| d.set(true));
    let _ = record_from_bytes::<Flex, Record>(bytes, &Default::default(), path, "model");
    DECODING.with(|d| d.set(false));
}

fuzz_target!(|data: &[u8]| {
    // Building tensors from a damaged record can panic inside Burn, and
    // `record_from_bytes` catches that: silence those, and only those, panics (set
    // FUZZ_LOUD=1 to see them when replaying an input).
    QUIET.call_once(|| {
        nas::memory::set_limit(Some(1 << 30));
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.with(|d| d.get()) || std::env::var_os("FUZZ_LOUD").is_some() {
                fuzzer_hook(info);
            }
        }));
    });
    let path = Path::new("fuzz/checkpoint.bin");
    if let Ok(bundle) = Bundle::from_bytes(data, path) {
        assert_eq!(bundle.to_bytes(), data, "a parsed checkpoint writes back the same bytes");
        if let Some(model) = bundle.get("model") {
            decode(model, path);
        }
    }
    // The record decoder on raw bytes, without the checksum in front of it.
    decode(data, path);
});
