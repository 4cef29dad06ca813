//! Genotype JSON, DARTS space and NAS-Bench-201: an accepted genotype is valid and
//! survives writing and reading back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use search_space::{Genotype, Nb201Genotype};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(genotype) = Genotype::from_json(text) {
        genotype.validate().expect("an accepted genotype is valid");
        let back = Genotype::from_json(&genotype.to_json()).expect("its JSON reads back");
        assert_eq!(back, genotype);
    }
    if let Ok(genotype) = Nb201Genotype::from_json(text) {
        genotype.validate().expect("an accepted genotype is valid");
        let back = Nb201Genotype::from_json(&genotype.to_json()).expect("its JSON reads back");
        assert_eq!(back, genotype);
    }
});
