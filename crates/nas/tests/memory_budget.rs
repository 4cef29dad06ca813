//! The memory budget: with `Budgeted` as the global allocator, an allocation past the
//! budget is refused (and counted); without a budget it goes through.
//!
//! One test only: the counters are global to the process.

use std::alloc::System;

use nas::memory::{self, Budgeted};

#[global_allocator]
static ALLOCATOR: Budgeted<System> = Budgeted::new(System);

#[test]
fn allocations_past_the_budget_are_refused_and_counted() {
    let held = memory::live_bytes();
    assert!(held > 0, "the wrapper counts this process's allocations");
    memory::set_limit(Some(held + (64 << 20)));
    memory::set_task(memory::Task::Search { batch_size: 4096 });
    let mut small = Vec::<u8>::new();
    small.try_reserve(1 << 20).expect("1 MiB fits the budget");
    let mut big = Vec::<u8>::new();
    assert!(big.try_reserve(1 << 30).is_err(), "1 GiB is past it");
    assert_eq!(memory::refused(), 1);
    // Growing past the budget by reallocation is refused too.
    let mut grown = vec![0u8; 1 << 20];
    assert!(grown.try_reserve_exact(200 << 20).is_err());
    assert_eq!(memory::refused(), 2);
    drop((small, grown));
    memory::set_limit(None);
    big.try_reserve(1 << 30).expect("no budget, no refusal");
    assert!(memory::peak_bytes() >= 1 << 30);
    drop(big);
    assert!(memory::live_bytes() < held + (16 << 20));

    // A GPU runtime's panic for device memory gets the same advice; other panics none.
    for message in [
        "No pool handles allocation of size 411041792",
        "wgpu error: Validation Error\n\nCaused by:\n  In Device::create_buffer\n    Not \
         enough memory left.",
        "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")",
    ] {
        let advice = memory::device_advice(message).expect(message);
        assert_eq!(
            advice,
            "error: out of memory on the device during the search. Lower the batch size \
             (batch_size = 4096, the --batch-size flag) and start again, or lower channels \
             or cells; the last checkpoint is intact."
        );
    }
    assert_eq!(
        memory::device_advice("index out of bounds: the len is 3"),
        None
    );
}
