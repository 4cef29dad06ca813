//! CIFAR-10 and CIFAR-100 binary records: any bytes give records or an error, never a
//! panic; accepted records have the right size and labels in range.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz/data_batch_1.bin");
    if let Ok(items) = datasets::decode::cifar10_records(data, origin) {
        assert_eq!(items.len() * 3073, data.len());
        assert!(items.iter().all(|item| item.image.len() == 3072 && item.label < 10));
    }
    if let Ok(records) = datasets::decode::cifar100_records(data, origin) {
        assert_eq!(records.len() * 3074, data.len());
        assert!(records.iter().all(|r| r.image.len() == 3072 && r.fine < 100 && r.coarse < 20));
    }
});
