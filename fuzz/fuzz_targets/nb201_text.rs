//! NAS-Bench-201 architecture strings: an accepted string is a valid genotype whose own
//! string reads back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use search_space::Nb201Genotype;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(genotype) = text.parse::<Nb201Genotype>() {
        genotype.validate().expect("an accepted genotype is valid");
        let back: Nb201Genotype = genotype.to_string().parse().expect("its string reads back");
        assert_eq!(back, genotype);
    }
});
