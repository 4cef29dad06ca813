//! DARTS' Python genotype text: an accepted genotype is valid and its own DARTS text reads
//! back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use search_space::Genotype;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(genotype) = Genotype::from_darts(text) {
        genotype.validate().expect("an accepted genotype is valid");
        let back = Genotype::from_darts(&genotype.to_string()).expect("its text reads back");
        assert_eq!(back, genotype);
    }
});
