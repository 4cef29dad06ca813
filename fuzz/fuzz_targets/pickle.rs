//! Pickled ImageNet16-120 batches: any bytes give a batch or an error, never a panic, a
//! stack overflow or an allocation far beyond the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz/train_data_batch_1");
    if let Ok(batch) = datasets::decode::imagenet16_batch(data, origin) {
        assert_eq!(batch.data.len(), batch.labels.len() * 768);
    }
});
