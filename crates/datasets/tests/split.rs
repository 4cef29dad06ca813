//! `split_in_two` gives disjoint, covering, repeatable halves.

use std::collections::BTreeSet;

use datasets::split_in_two;

fn check_partition(n: usize, a: &[usize], b: &[usize]) {
    let sa: BTreeSet<_> = a.iter().copied().collect();
    let sb: BTreeSet<_> = b.iter().copied().collect();
    assert_eq!(sa.len(), a.len(), "duplicates in first part");
    assert_eq!(sb.len(), b.len(), "duplicates in second part");
    assert!(sa.is_disjoint(&sb));
    let all: BTreeSet<_> = sa.union(&sb).copied().collect();
    assert_eq!(all, (0..n).collect::<BTreeSet<_>>());
}

#[test]
fn halves_are_disjoint_and_cover() {
    for (n, fraction, first) in [(1000, 0.5, 500), (7, 0.5, 4), (10, 0.3, 3), (1, 0.5, 1)] {
        let (a, b) = split_in_two(n, fraction, 11);
        assert_eq!(a.len(), first, "n={n} fraction={fraction}");
        check_partition(n, &a, &b);
    }
}

#[test]
fn same_seed_same_split_other_seed_other_split() {
    assert_eq!(split_in_two(500, 0.5, 1), split_in_two(500, 0.5, 1));
    assert_ne!(split_in_two(500, 0.5, 1), split_in_two(500, 0.5, 2));
    let (a, _) = split_in_two(500, 0.5, 1);
    let sorted: Vec<usize> = (0..250).collect();
    assert_ne!(a, sorted, "indices must be shuffled");
}

#[test]
fn odd_fractions_are_clamped() {
    assert_eq!(split_in_two(10, 0.0, 0).0.len(), 0);
    assert_eq!(split_in_two(10, 1.0, 0).1.len(), 0);
    assert_eq!(split_in_two(10, -3.0, 0).0.len(), 0);
    assert_eq!(split_in_two(10, 7.0, 0).0.len(), 10);
    assert_eq!(split_in_two(10, f64::NAN, 0).0.len(), 5);
    assert_eq!(split_in_two(10, f64::INFINITY, 0).0.len(), 10);
    assert_eq!(split_in_two(0, 0.5, 0), (vec![], vec![]));
}
