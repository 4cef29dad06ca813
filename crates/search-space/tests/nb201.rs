//! The NAS-Bench-201 space: architecture strings, genotypes, supernet and final network.

use bio_rules::{LearningRule, ParamCounts};
use burn::backend::Autodiff;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::activation::softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use search_space::nb201::edge_ends;
use search_space::{
    ArchGenotype, FeedbackLen, Nb201Candidate, Nb201CandidateSet, Nb201Genotype,
    Nb201NetworkConfig, Nb201Operation, Nb201SupernetConfig, SearchSupernet, SpaceError,
};

/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(not(feature = "test-ndarray"))]
type Cpu = burn::backend::Flex;
/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(feature = "test-ndarray")]
type Cpu = burn::backend::NdArray;
type B = Autodiff<Cpu>;

/// Architecture strings as NAS-Bench-201 writes them (its README's example, and cells
/// DARTS found on it), all convolutions on BP.
const NB201_STRINGS: [&str; 3] = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+\
     |skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+\
     |nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|skip_connect~2|",
];

fn parse(text: &str) -> Nb201Genotype {
    text.parse().expect("a valid architecture string")
}

fn images(n: usize, size: usize) -> Tensor<B, 4> {
    let values: Vec<f32> = (0..n * 3 * size * size)
        .map(|i| ((i * 37 % 101) as f32) / 101.0)
        .collect();
    Tensor::from_data(
        TensorData::new(values, [n, 3, size, size]),
        &Default::default(),
    )
}

#[test]
fn nb201_strings_read_as_bp_and_write_back_unchanged() {
    use Nb201Operation::{AvgPool3x3, NorConv3x3, SkipConnect};
    for text in NB201_STRINGS {
        let genotype = parse(text);
        assert_eq!(genotype.to_string(), text);
        for edge in genotype.edges {
            let want = edge.op.is_conv().then_some(LearningRule::Bp);
            assert_eq!(edge.rule, want, "{text}");
        }
    }
    let first = parse(NB201_STRINGS[0]);
    let ops = [
        NorConv3x3,
        NorConv3x3,
        AvgPool3x3,
        SkipConnect,
        NorConv3x3,
        SkipConnect,
    ];
    assert_eq!(first, Nb201Genotype::from_ops(ops, LearningRule::Bp));
}

#[test]
fn rule_suffixes_round_trip() {
    let rules = LearningRule::ALL;
    let mut genotype = parse(NB201_STRINGS[0]).with_rule(LearningRule::Fa);
    let ops = [Nb201Operation::NorConv1x1, Nb201Operation::NorConv3x3];
    // Every rule on every convolution, two edges at a time.
    for (i, pair) in rules.chunks(2).enumerate() {
        for (e, &rule) in pair.iter().enumerate() {
            genotype.edges[2 * (i % 3) + e] = Nb201Candidate::with_rule(ops[e], rule);
        }
        let text = genotype.to_string();
        assert_eq!(parse(&text), genotype, "{text}");
    }
    let text = "|nor_conv_3x3_fr~0|+|nor_conv_1x1_u~0|nor_conv_3x3_br~1|+\
                |nor_conv_1x1_dfa~0|nor_conv_3x3_hebb~1|nor_conv_1x1_fa~2|";
    let genotype = parse(text);
    let got: Vec<_> = genotype.edges.iter().filter_map(|e| e.rule).collect();
    use LearningRule::{Brsf, Dfa, Fa, Frsf, Hebbian, Usf};
    assert_eq!(got, [Frsf, Usf, Brsf, Dfa, Hebbian, Fa]);
    assert_eq!(genotype.to_string(), text);
    // `_bp` reads as BP, which is written without a suffix.
    let explicit = NB201_STRINGS[0].replace("nor_conv_3x3~0|+", "nor_conv_3x3_bp~0|+");
    assert_eq!(parse(&explicit), parse(NB201_STRINGS[0]));
    assert_eq!(parse(&explicit).to_string(), NB201_STRINGS[0]);
}

#[test]
fn malformed_strings_give_the_byte_the_text_and_the_reason() {
    let good = NB201_STRINGS[0];
    let cases: [(String, usize, &str); 11] = [
        (String::new(), 0, "empty"),
        (
            "|nor_conv_3x3~0|+|none~0|none~1|".into(),
            32,
            "expected `+` before node 3",
        ),
        (format!("{good}+|none~0|"), good.len(), "found another"),
        (good.replacen("~0|+", "~1|+", 1), 14, "must read node 0"),
        (
            good.replacen("avg_pool_3x3~1", "avg_pool_3x3~2", 1),
            46,
            "must read node 1",
        ),
        (
            good.replacen("nor_conv_3x3", "conv_5x5", 1),
            1,
            "unknown operation",
        ),
        (
            good.replacen("nor_conv_3x3", "nor_conv_3x3_xx", 1),
            1,
            "unknown rule suffix `_xx`",
        ),
        (
            good.replacen("avg_pool_3x3", "avg_pool_3x3_fa", 1),
            33,
            "no weights",
        ),
        (good.replacen("|+", "+", 1), 15, "expected `|`"),
        (format!("{good}xyz"), good.len(), "text after the last node"),
        (good.replacen("~0", "", 1), 13, "expected `~`"),
    ];
    for (text, at, want) in cases {
        match text.parse::<Nb201Genotype>() {
            Err(e @ SpaceError::Nb201Syntax { position, .. }) => {
                let message = e.to_string();
                assert!(message.contains(want), "{text}: {message}");
                assert!(message.contains(&format!("byte {at}")), "{text}: {message}");
                assert_eq!(position, at, "{message}");
                let near: String = text[at..].chars().take(8).collect();
                assert!(message.contains(&format!("near `{near}")), "{message}");
            }
            other => panic!("{text}: expected a syntax error with `{want}`, got {other:?}"),
        }
    }
}

#[test]
fn json_round_trip_validation_and_files() {
    let genotype =
        parse(&NB201_STRINGS[1].replace("nor_conv_1x1~0|skip", "nor_conv_1x1_fr~0|skip"));
    let json = genotype.to_json();
    assert!(json.contains("\"op\": \"nor_conv_1x1\"") && json.contains("\"rule\": \"frsf\""));
    assert_eq!(Nb201Genotype::from_json(&json).expect("valid"), genotype);

    let ruled_pool = json.replacen(
        "{\n      \"op\": \"avg_pool_3x3\"",
        "{\n      \"op\": \"avg_pool_3x3\", \"rule\": \"fa\"",
        1,
    );
    let err = Nb201Genotype::from_json(&ruled_pool).expect_err("a pool takes no rule");
    assert!(
        matches!(
            err,
            SpaceError::Nb201BadCandidate {
                edge: 0,
                from: 0,
                to: 1,
                ..
            }
        ),
        "{err}"
    );
    let mut no_rule = genotype;
    no_rule.edges[1].rule = None;
    let err = no_rule.validate().expect_err("a convolution needs a rule");
    assert!(
        matches!(err, SpaceError::Nb201BadCandidate { edge: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("has weights but no learning rule"),
        "{err}"
    );
    let unknown_field = json.replacen("\"edges\"", "\"cells\"", 1);
    let err = Nb201Genotype::from_json(&unknown_field).expect_err("unknown field");
    assert!(matches!(err, SpaceError::Json { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown field `cells`"), "{err}");
    // Five edges instead of six (NAS-Bench-201 edges are positional: no node indices).
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("json");
    value["edges"].as_array_mut().expect("edges").pop();
    let err = Nb201Genotype::from_json(&value.to_string()).expect_err("five edges");
    assert!(matches!(err, SpaceError::Json { .. }), "{err:?}");
    assert!(err.to_string().contains("invalid length 5"), "{err}");

    let path = std::env::temp_dir().join(format!("nb201-genotype-{}.json", std::process::id()));
    genotype.save(&path).expect("written");
    let back = Nb201Genotype::load(&path).expect("read back");
    std::fs::remove_file(&path).expect("removed");
    assert_eq!(back, genotype);
}

#[test]
fn cell_draws_as_dot_and_svg() {
    let genotype = parse(
        "|nor_conv_3x3_fa~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|\
                          nor_conv_1x1~1|skip_connect~2|",
    );
    let dot = ArchGenotype::to_dot(&genotype);
    assert!(
        dot.contains("\"0\" -> \"1\" [label=\"nor_conv_3x3 (fa)\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"0\" -> \"2\" [label=\"none\", style=dashed"),
        "{dot}"
    );
    assert!(
        dot.contains("\"1\" -> \"3\" [label=\"nor_conv_1x1 (bp)\"];"),
        "{dot}"
    );
    let svg = ArchGenotype::to_svg(&genotype);
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("stroke-width=\"1.6\"").count(), 6);
    assert!(svg.contains(">nor_conv_3x3 (fa)</text>") && svg.contains(">3 (out)</text>"));
}

fn tiny_supernet(rules: &[LearningRule]) -> search_space::Nb201Supernet<B> {
    Nb201SupernetConfig::new()
        .with_channels(4)
        .with_cells_per_stage(1)
        .with_rules(rules.to_vec())
        .init::<B>(&Default::default())
        .expect("valid rules")
}

#[test]
fn supernet_gives_logits_and_alpha_gets_a_gradient() {
    let net = tiny_supernet(&[LearningRule::Fa, LearningRule::Dfa]);
    assert_eq!(net.alpha.val().dims(), [6, 3 + 2 * 2]);
    assert_eq!(net.cells.len(), 3);
    let logits = net.logits(images(2, 8));
    assert_eq!(logits.dims(), [2, 10]);
    let grads = logits.sum().backward();
    let grad = net.alpha.val().grad(&grads).expect("α gets a gradient");
    let size: f32 = grad.abs().sum().into_scalar();
    assert!(size > 0.0, "the gradient of α is zero");

    // `logits_mixed` with `softmax(α)` is `logits`.
    let weights = softmax(net.alpha.val(), 1);
    let mixed = net.logits_mixed(images(2, 8), &[weights]);
    let plain = net.logits(images(2, 8));
    let diff: f32 = (mixed - plain).abs().max().into_scalar();
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn the_default_supernet_is_nb201s_size() {
    let config = Nb201SupernetConfig::new();
    assert_eq!(
        (config.channels, config.cells_per_stage, config.classes),
        (16, 5, 10)
    );
    assert_eq!(config.rules, LearningRule::PAPER);
    let empty = config
        .with_rules(Vec::new())
        .init::<Cpu>(&Default::default());
    let err = empty.expect_err("no rule, no convolution candidate");
    assert!(matches!(err, SpaceError::NoRules), "{err:?}");
    assert!(err.to_string().contains("the rule set is empty"), "{err}");
    let huge = Nb201SupernetConfig::new()
        .with_channels(1 << 20)
        .init::<Cpu>(&Default::default());
    let err = huge.expect_err("too wide");
    assert_eq!(
        err.to_string(),
        "invalid network configuration: channels (1048576) must be at most 65536"
    );
}

/// `α` rows that make the given candidate of each edge win by a wide margin.
fn alpha_for(set: &Nb201CandidateSet, genotype: &Nb201Genotype) -> Tensor<B, 2> {
    let k = set.len();
    let mut values = vec![0.0f32; 6 * k];
    for (edge, &candidate) in genotype.edges.iter().enumerate() {
        let column = set.index_of(candidate).expect("a candidate of the set");
        values[edge * k + column] = 5.0;
    }
    Tensor::from_data(TensorData::new(values, [6, k]), &Default::default())
}

#[test]
fn derive_takes_the_largest_alpha_of_each_edge_none_included() {
    let net = tiny_supernet(&[LearningRule::Fa, LearningRule::Usf]);
    let want = parse(
        "|nor_conv_3x3_fa~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|\
                      nor_conv_1x1_u~1|none~2|",
    );
    let alpha = alpha_for(&net.candidates, &want);
    let net = net.with_alphas(vec![alpha]);
    assert_eq!(net.derive(), want);
    // Ties go to the earlier candidate: all-zero α gives `none` everywhere.
    let k = net.candidates.len();
    let net = net.with_alphas(vec![Tensor::zeros([6, k], &Default::default())]);
    let none = Nb201Genotype::from_ops([Nb201Operation::None; 6], LearningRule::Bp);
    assert_eq!(net.derive(), none);
}

#[test]
fn with_alphas_keeps_the_parameter_ids() {
    let net = tiny_supernet(&LearningRule::PAPER);
    let ids = net.alpha_param_ids();
    let before = net.derive();
    let target = parse(&NB201_STRINGS[0].replace("nor_conv_3x3~", "nor_conv_3x3_br~"));
    assert_ne!(before, target);
    let alpha = alpha_for(&net.candidates, &target);
    let net = net.with_alphas(vec![alpha]);
    assert_eq!(net.alpha_param_ids(), ids);
    assert_eq!(net.derive(), target);
    assert!(net.alpha.val().is_require_grad());
}

#[test]
fn edges_are_in_nb201_order() {
    let ends: Vec<_> = (0..6).map(edge_ends).collect();
    assert_eq!(ends, [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]);
}

/// `|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|`
/// at C = 4, N = 1, 10 classes, counted by hand (convolutions have no bias, affine batch
/// norms 2 values per channel):
///
/// - stem: 3·4·9 = 108, batch norm 8; 116
/// - cell at c channels: two 3×3 (9c² + 2c each) and one 1×1 (c² + 2c): 19c² + 6c;
///   c = 4: 328, c = 8: 1264, c = 16: 4960
/// - residual block c → 2c: 3×3 c → 2c (18c² + 4c), 3×3 2c → 2c (36c² + 4c), 1×1 shortcut
///   (2c²): 56c² + 8c; c = 4: 928, c = 8: 3648
/// - head: batch norm 2·16 = 32, linear 16·10 + 10 = 170
///
/// 116 + 328 + 928 + 1264 + 3648 + 4960 + 32 + 170 = 11 446.
#[test]
fn final_network_parameter_count_by_hand() {
    let genotype = parse(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|\
                          avg_pool_3x3~1|nor_conv_3x3~2|",
    );
    let config = Nb201NetworkConfig::new(genotype)
        .with_channels(4)
        .with_cells_per_stage(1);
    let net = config.init::<B>(&Default::default()).expect("valid");
    let counts = ParamCounts::of(&net);
    assert_eq!(counts.trained, 11_446);
    assert_eq!(counts.feedback, 0);
    let logits = net.forward(images(2, 8));
    assert_eq!(logits.dims(), [2, 10]);
    assert_eq!(net.forward_eval(images(2, 8)).dims(), [2, 10]);

    // The same cell on FA, uSF and frSF: every convolution weight of the cells has one
    // feedback value, 19c² per cell, the BP skeleton none.
    let ruled = parse(
        "|nor_conv_3x3_fa~0|+|skip_connect~0|nor_conv_1x1_u~1|+|none~0|\
         avg_pool_3x3~1|nor_conv_3x3_fr~2|",
    );
    let net = Nb201NetworkConfig::new(ruled)
        .with_channels(4)
        .with_cells_per_stage(1)
        .init::<Cpu>(&Default::default())
        .expect("valid");
    assert_eq!(net.feedback_len(), 19 * (4 * 4 + 8 * 8 + 16 * 16));

    let bad = Nb201NetworkConfig::new(genotype).with_cells_per_stage(0);
    let err = bad
        .init::<Cpu>(&Default::default())
        .expect_err("no cell per stage");
    assert!(matches!(err, SpaceError::Size(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid network configuration: channels, cells_per_stage and classes must be at least 1"
    );
}

#[test]
fn final_network_trains_every_parameter_with_rules() {
    let genotype = parse(
        "|nor_conv_3x3_fr~0|+|nor_conv_1x1_dfa~0|nor_conv_3x3_u~1|+|\
                          skip_connect~0|avg_pool_3x3~1|nor_conv_3x3_fa~2|",
    );
    let net = Nb201NetworkConfig::new(genotype)
        .with_channels(4)
        .with_cells_per_stage(1)
        .init::<B>(&Default::default())
        .expect("valid");
    let x = images(2, 8).require_grad();
    let grads = net.forward(x.clone()).sum().backward();
    assert!(x.grad(&grads).is_some());
    let mut missing = Vec::new();
    net.visit(&mut GradCheck {
        grads: &grads,
        missing: &mut missing,
    });
    assert!(
        missing.is_empty(),
        "parameters without a gradient: {missing:?}"
    );
    let counts = ParamCounts::of(&net);
    assert!(counts.feedback > 0, "FA and frSF keep fixed feedback");
}

/// Collects the ids of trainable parameters that got no gradient.
struct GradCheck<'a> {
    grads: &'a <B as AutodiffBackend>::Gradients,
    missing: &'a mut Vec<String>,
}

impl ModuleVisitor<B> for GradCheck<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if param.is_require_grad() && param.val().grad(self.grads).is_none() {
            self.missing.push(format!("{:?}", param.id));
        }
    }
}
