//! Two searches with one seed give the same numbers and genotype; another seed does not;
//! alignment probes change nothing. (Alone in its test binary: the backend's generator is
//! shared by the whole process.)

mod common;

use burn::backend::{Autodiff, Flex};
use nas::{Silent, search};

type B = Autodiff<Flex>;

#[test]
fn one_seed_one_result() {
    let config = common::tiny_config();
    let data = common::tiny_data(&config);
    let run = |config: &nas::SearchConfig| {
        let outcome =
            search::<B>(config, &data, &Default::default(), None, &mut Silent).expect("search");
        let r = &outcome.reports[0];
        (
            r.train_loss,
            r.arch_loss,
            r.valid_loss,
            r.alpha_max_abs,
            outcome.genotype,
        )
    };
    let first = run(&config);
    assert_eq!(first, run(&config));
    let other = nas::SearchConfig {
        seed: config.seed + 1,
        ..config.clone()
    };
    assert_ne!(first, run(&other));
    // The probe's extra back-propagation pass draws nothing and its batch-norm updates are
    // undone, so a probed search is the same search.
    let mut probed = nas::SearchConfig {
        alignment_every: 2,
        ..config.clone()
    };
    probed.rules.push(bio_rules::LearningRule::Dfa);
    let mut plain = probed.clone();
    plain.alignment_every = 0;
    assert_eq!(run(&plain), run(&probed));
}
