//! The search space: layer semantics, parameter counts of known genotypes, genotype
//! derivation and validation.

use bio_rules::{LearningRule, ParamCounts};
use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::{Tensor, TensorData};
use search_space::genotype::known;
use search_space::layers::{Pool, PoolKind, avg_pool_exclude_pad};
use search_space::{
    BatchNorm2dConfig, CandidateSet, FeedbackLen, Genotype, NetworkConfig, NormMode, Operation,
    SpaceError, SupernetConfig, derive_cell,
};

/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(not(feature = "test-ndarray"))]
type Cpu = burn::backend::Flex;
/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(feature = "test-ndarray")]
type Cpu = burn::backend::NdArray;
type B = Autodiff<Cpu>;

fn values<Bk: burn::tensor::backend::Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().expect("float data")
}

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "at {i}: got {g}, want {w}");
    }
}

fn grid(values: &[f32], shape: [usize; 4]) -> Tensor<B, 4> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &Default::default())
}

#[test]
fn average_pool_does_not_count_padding() {
    let x = grid(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], [1, 1, 3, 3]).require_grad();
    let y = avg_pool_exclude_pad(x.clone(), [1, 1]);
    assert_close(
        &values(y.clone()),
        &[3., 3.5, 4., 4.5, 5., 5.5, 6., 6.5, 7.],
        1e-5,
    );
    let grads = y.sum().backward();
    let dx = values(x.grad(&grads).expect("dx"));
    let (c, e, m) = (0.694_444, 1.111_111, 1.777_778);
    assert_close(&dx, &[c, e, c, e, m, e, c, e, c], 1e-5);
}

#[test]
fn strided_average_pool_of_ones_is_one() {
    let x = Tensor::<B, 4>::ones([1, 1, 4, 4], &Default::default());
    let y = avg_pool_exclude_pad(x, [2, 2]);
    assert_eq!(y.dims(), [1, 1, 2, 2]);
    assert_close(&values(y), &[1.0; 4], 1e-6);
}

#[test]
fn max_pool_pads_with_minus_infinity() {
    let x = grid(&[-5., -6., -7., -8.], [1, 1, 2, 2]);
    let pool = Pool::<B>::new(PoolKind::Max, 1, 1, false, &Default::default());
    assert_close(&values(pool.forward(x, NormMode::Auto)), &[-5.0; 4], 0.0);
}

/// PITFALLS' batch-norm case: running mean 0.5, running variance 4, x = [1, 2, 3, 4].
#[test]
fn batch_norm_train_and_eval() {
    let device = Default::default();
    let bn = BatchNorm2dConfig::new(1).init::<B>(&device);
    bn.running_mean.update(Tensor::from_floats([0.5], &device));
    bn.running_var.update(Tensor::from_floats([4.0], &device));
    let x = grid(&[1., 2., 3., 4.], [4, 1, 1, 1]).require_grad();

    // Eval mode on an autodiff model: running statistics, gradient 1 / sqrt(4 + 1e-5).
    let grads = bn.forward_eval(x.clone()).sum().backward();
    assert_close(
        &values(x.grad(&grads).expect("dx")),
        &[0.499_999_4; 4],
        1e-6,
    );
    assert_close(&values(bn.running_mean.value_sync()), &[0.5], 0.0);

    // Train mode: the sum of a normalised batch does not depend on x.
    let grads = bn.forward(x.clone()).sum().backward();
    assert_close(&values(x.grad(&grads).expect("dx")), &[0.0; 4], 1e-5);
    assert_close(&values(bn.running_mean.value_sync()), &[0.7], 1e-6);
    // 0.9 · 4 + 0.1 · 1.6667 (unbiased variance of 1..4).
    assert_close(&values(bn.running_var.value_sync()), &[3.766_667], 1e-5);

    // valid() gives the inner backend, which evaluates with the running statistics.
    let inner = bn.valid();
    let y = inner.forward(x.inner());
    let expected: Vec<f32> = [1., 2., 3., 4.]
        .iter()
        .map(|v| (v - 0.7) / (3.766_667f32 + 1e-5).sqrt())
        .collect();
    assert_close(&values(y), &expected, 1e-5);
}

#[test]
fn search_batch_norm_has_no_parameters() {
    let bn = BatchNorm2dConfig::new(8)
        .with_affine(false)
        .init::<Cpu>(&Default::default());
    assert_eq!(ParamCounts::of(&bn).trained, 0);
}

fn count(genotype: Genotype, classes: usize) -> ParamCounts {
    let config = NetworkConfig::new(genotype).with_classes(classes);
    let net = config
        .init::<Cpu>(&Default::default())
        .expect("valid genotype");
    ParamCounts::of(&net)
}

fn feedback_len(genotype: Genotype) -> usize {
    let config = NetworkConfig::new(genotype);
    config
        .init::<Cpu>(&Default::default())
        .expect("valid genotype")
        .feedback_len()
}

#[test]
fn darts_v2_parameter_counts() {
    assert_eq!(count(known::darts_v2(), 10).trained, 3_349_342);
    assert_eq!(count(known::darts_v2(), 100).trained, 3_401_272);
    assert_eq!(count(known::darts_v2(), 10).feedback, 0);
}

#[test]
fn biodarts_parameter_count_and_feedback_apart() {
    let counts = count(known::biodarts(), 10);
    assert_eq!(counts.trained, 2_867_662);
    // One feedback value per weight of every rule convolution (uSF and frSF here), as a
    // reference implementation that buffers every feedback tensor counts them.
    assert_eq!(feedback_len(known::biodarts()), 1_446_552);
    // Stored apart from the parameters: frSF's magnitudes only (uSF computes B from W).
    // Normal cells hold two frSF sep_conv_3x3, 2·(9C + C²) weights each, at C = 36, 72,
    // 144, six cells apiece.
    let per_c = |c: usize| 2 * 2 * (9 * c + c * c);
    assert_eq!(counts.feedback, 6 * (per_c(36) + per_c(72) + per_c(144)));
    assert_eq!(feedback_len(known::darts_v2()), 0);
}

#[test]
fn supernet_forward_and_genotype() {
    let config = SupernetConfig::new().with_channels(4).with_layers(3);
    let net = config.init::<B>(&Default::default()).expect("valid rules");
    let x = Tensor::<B, 4>::ones([2, 3, 8, 8], &Default::default());
    let logits = net.forward(x);
    assert_eq!(logits.dims(), [2, 10]);
    let grads = logits.sum().backward();
    assert!(
        net.alpha_normal.val().grad(&grads).is_some(),
        "α gets a gradient"
    );
    let genotype = net.genotype();
    genotype.validate().expect("a derived genotype is valid");
    // No parameters of search batch norms; the supernet has only conv weights, the stem's
    // batch norm and the classifier besides α.
    assert!(ParamCounts::of(&net).trained > 0);
}

/// DFA and Hebbian candidates in a final network: the network taps its logits for DFA,
/// every weight gets a gradient (the Hebbian ones their update), and the genotype keeps
/// the rule names.
#[test]
fn dfa_and_hebbian_edges_train_in_a_network() {
    let mut genotype = known::biodarts();
    let rules = [LearningRule::Dfa, LearningRule::Hebbian];
    let mut weighted = 0;
    for edge in genotype
        .normal
        .edges
        .iter_mut()
        .chain(genotype.reduce.edges.iter_mut())
    {
        if edge.op.is_conv() {
            edge.rule = Some(rules[weighted % 2]);
            weighted += 1;
        }
    }
    let json = genotype.to_json();
    assert!(json.contains("\"dfa\"") && json.contains("\"hebbian\""));
    let text = genotype.to_string();
    assert!(text.contains("_dfa'") && text.contains("_hebb'"), "{text}");
    let net = NetworkConfig::new(genotype)
        .with_channels(4)
        .with_layers(3)
        .init::<B>(&Default::default())
        .expect("valid genotype");
    let x = Tensor::<B, 4>::ones([2, 3, 8, 8], &Default::default()).require_grad();
    let grads = net.forward(x.clone()).sum().backward();
    assert!(x.grad(&grads).is_some());
    let mut seen = Vec::new();
    let mut visitor = GradCheck {
        grads: &grads,
        missing: &mut seen,
    };
    burn::module::Module::visit(&net, &mut visitor);
    assert!(seen.is_empty(), "parameters without a gradient: {seen:?}");
}

struct GradCheck<'a> {
    grads: &'a <B as burn::tensor::backend::AutodiffBackend>::Gradients,
    missing: &'a mut Vec<String>,
}

impl burn::module::ModuleVisitor<B> for GradCheck<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
        if param.is_require_grad() && param.val().grad(self.grads).is_none() {
            self.missing.push(format!("{:?}", param.id));
        }
    }
}

#[test]
fn genotype_derivation_keeps_the_two_strongest_edges() {
    let set = CandidateSet::new(&[LearningRule::Fa, LearningRule::Usf]).expect("rules");
    let k = set.len();
    let mut w = vec![0.01f32; 14 * k];
    let idx = |op: Operation, rule: Option<LearningRule>| {
        set.candidates()
            .iter()
            .position(|c| c.op == op && c.rule == rule)
            .expect("candidate")
    };
    // Node 2 (edges 0, 1): `none` dominates edge 0 but is ignored; edge 1 prefers max pool.
    w[idx(Operation::None, None)] = 0.9;
    w[k + idx(Operation::MaxPool3x3, None)] = 0.5;
    w[idx(Operation::SepConv3x3, Some(LearningRule::Usf))] = 0.05;
    // Node 3 (edges 2, 3, 4): edges 4 and 2 win.
    w[4 * k + idx(Operation::DilConv5x5, Some(LearningRule::Fa))] = 0.8;
    w[2 * k + idx(Operation::SkipConnect, None)] = 0.3;
    let cell = derive_cell(&w, &set);
    let edges: Vec<_> = cell.edges.iter().map(|e| (e.op, e.rule, e.input)).collect();
    assert_eq!(
        edges[0],
        (Operation::SepConv3x3, Some(LearningRule::Usf), 0)
    );
    assert_eq!(edges[1], (Operation::MaxPool3x3, None, 1));
    assert_eq!(edges[2], (Operation::SkipConnect, None, 0));
    assert_eq!(edges[3], (Operation::DilConv5x5, Some(LearningRule::Fa), 2));
}

#[test]
fn genotype_json_round_trip_and_darts_string() {
    let g = known::biodarts();
    let json = g.to_json();
    assert!(json.contains("\"op\": \"sep_conv_3x3\"") && json.contains("\"rule\": \"frsf\""));
    assert_eq!(Genotype::from_json(&json).expect("parse"), g);
    let text = g.to_string();
    assert!(text.starts_with("Genotype(normal=[('skip_connect', 0), ('skip_connect', 1), "));
    assert!(text.contains("('sep_conv_3x3_fr', 1), ('sep_conv_3x3_u', 2)"));
    assert!(text.contains("('dil_conv_5x5_u', 3)], reduce_concat=[2, 3, 4, 5])"));
}

#[test]
fn malformed_genotypes_are_refused_with_the_reason() {
    let mut g = known::biodarts();
    g.normal.edges[3].input = 3; // node 3 reads itself
    let err = g.validate().expect_err("out of range");
    assert!(
        matches!(
            err,
            SpaceError::InputOutOfRange {
                edge: 3,
                node: 3,
                ..
            }
        ),
        "{err}"
    );

    let mut g = known::biodarts();
    g.reduce.edges[7].rule = None; // dil_conv without a rule
    assert!(matches!(
        g.validate(),
        Err(SpaceError::BadCandidate { edge: 7, .. })
    ));

    let mut g = known::biodarts();
    g.normal.edges.pop();
    assert!(matches!(
        g.validate(),
        Err(SpaceError::EdgeCount { found: 7, .. })
    ));

    let mut g = known::biodarts();
    g.normal.edges[1].input = 0;
    assert!(matches!(
        g.validate(),
        Err(SpaceError::DuplicateInput { node: 2, .. })
    ));

    let mut g = known::biodarts();
    g.normal.concat = vec![2, 2];
    let err = g.validate().expect_err("a node twice");
    assert!(matches!(err, SpaceError::BadConcat { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "normal cell: concat [2, 2] must list distinct nodes among 2..6"
    );

    let bad_op = known::biodarts()
        .to_json()
        .replacen("max_pool_3x3", "conv_7x7", 1);
    let err = Genotype::from_json(&bad_op).expect_err("unknown op");
    assert!(matches!(err, SpaceError::Json { .. }), "{err:?}");
    assert!(
        err.to_string().contains("unknown variant `conv_7x7`"),
        "{err}"
    );
    let bad_rule = known::biodarts()
        .to_json()
        .replacen("\"frsf\"", "\"hebb\"", 1);
    let err = Genotype::from_json(&bad_rule).expect_err("unknown rule");
    assert!(matches!(err, SpaceError::Json { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("<string>: not a valid genotype JSON")
            && message.contains("unknown variant `hebb`"),
        "{message}"
    );
}

#[test]
fn darts_text_round_trips_and_reads_the_original_files() {
    let searched = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../genotypes/searched_cifar10_3k.json");
    let searched = Genotype::load(searched).expect("shipped genotype");
    for genotype in [known::biodarts(), known::darts_v2(), searched] {
        let text = genotype.to_string();
        assert_eq!(Genotype::from_darts(&text).expect("round trip"), genotype);
    }
    // The DARTS repository's form: no rule suffix (BP), double quotes, range(), newlines.
    let original = "Genotype(\n  normal=[(\"sep_conv_3x3\", 0), ('sep_conv_3x3', 1), \
        ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), \
        ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6),\n  \
        reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), \
        ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), \
        ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5],\n)";
    assert_eq!(
        Genotype::from_darts(original).expect("DARTS_V2"),
        known::darts_v2()
    );
}

#[test]
fn darts_text_errors_say_where_and_what() {
    let good = known::biodarts().to_string();
    let cases = [
        (
            good.replace("sep_conv_3x3_fr", "sep_conv_7x7_fr"),
            "unknown operation",
        ),
        (
            good.replace("sep_conv_3x3_fr", "sep_conv_3x3_xx"),
            "unknown rule suffix `_xx`",
        ),
        (
            good.replace("'max_pool_3x3'", "'max_pool_3x3_u'"),
            "has no weights",
        ),
        (good[..good.len() / 2].to_string(), "expected"),
        (
            good.replace("reduce_concat", "reduce_kontakt"),
            "unknown field",
        ),
        (
            good.replace(", reduce_concat=[2, 3, 4, 5]", ""),
            "`reduce_concat` is missing",
        ),
        (format!("{good} trailing"), "after the closing"),
        (
            format!("{}, normal_concat=[4, 5])", good.trim_end_matches(')')),
            "the field `normal_concat` is given twice",
        ),
        ("Phenotype(normal=[])".to_string(), "expected `Genotype(`"),
        (
            good.replace("('skip_connect', 0)", "('skip_connect', x)"),
            "not a whole number",
        ),
    ];
    for (text, want) in cases {
        match Genotype::from_darts(&text) {
            Err(e @ SpaceError::DartsSyntax { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(want) && message.contains("byte"),
                    "{message}"
                );
            }
            other => panic!("{text}: expected a syntax error with `{want}`, got {other:?}"),
        }
    }
    // Well-formed text of a bad genotype gets the usual validation error.
    let duplicated = good.replace("('skip_connect', 1)", "('skip_connect', 0)");
    let err = Genotype::from_darts(&duplicated).expect_err("duplicated");
    assert!(matches!(err, SpaceError::DuplicateInput { .. }), "{err:?}");
    assert!(err.to_string().contains("reads state 0 twice"), "{err}");
}

#[test]
fn cells_draw_as_dot_and_svg() {
    let genotype = known::biodarts();
    let dot = genotype.normal.to_dot("normal");
    assert!(
        dot.contains("\"c_{k-1}\" -> \"0\" [label=\"skip_connect\"]"),
        "{dot}"
    );
    assert!(
        dot.contains("\"0\" -> \"1\" [label=\"sep_conv_3x3 (usf)\"]"),
        "{dot}"
    );
    assert_eq!(dot.matches("-> \"c_{k}\"").count(), 4);
    assert_eq!(dot.matches("[label=").count(), 8);
    let svg = genotype.reduce.to_svg("reduction cell");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("dil_conv_5x5 (usf)") && svg.contains("reduction cell"));
    // Eight edges, four lines into the output, seven boxes and the background.
    assert_eq!(svg.matches("<path d=\"M").count() - 1, 8);
    assert_eq!(svg.matches("stroke-dasharray").count(), 4);
    assert_eq!(svg.matches("<rect").count(), 8);
    let both = genotype.to_svg();
    assert!(both.contains("normal cell") && both.contains("reduction cell"));
    assert_eq!(both.matches("<svg").count(), 1);
}

/// PC-DARTS: with partial channels the candidates see a quarter of each edge's channels
/// (fewer weights), the channels are shuffled, and each node's incoming edges are weighted
/// by the softmax of `β`, which receives a gradient.
#[test]
fn partial_channels_and_edge_normalisation() {
    use search_space::SearchSupernet;
    let device = Default::default();
    let build = |k: usize| {
        SupernetConfig::new()
            .with_channels(8)
            .with_layers(3)
            .with_partial_channels(k)
            .init::<B>(&device)
            .expect("supernet")
    };
    let full = build(1);
    let partial = build(4);
    assert!(full.beta_normal.is_none() && partial.beta_normal.is_some());
    assert_eq!(full.alpha_param_ids().len(), 2);
    assert_eq!(partial.alpha_param_ids().len(), 4);
    let weights = |net: &search_space::Supernet<B>| ParamCounts::of(net).trained;
    assert!(weights(&partial) < weights(&full) / 2);
    let err = SupernetConfig::new()
        .with_channels(6)
        .with_partial_channels(4)
        .init::<B>(&device)
        .expect_err("6 channels cannot be split in 4");
    assert!(
        matches!(err, SpaceError::PartialChannels { channels: 6, k: 4 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("6 channels"), "{err}");
    // Sizes no machine could build are refused before anything is sized by them.
    for (config, expected) in [
        (
            SupernetConfig::new().with_channels(1_000_000_000),
            "channels (1000000000) must be at most 65536",
        ),
        (
            SupernetConfig::new().with_layers(100_000),
            "layers (100000) must be at most 4096",
        ),
    ] {
        let err = config.init::<B>(&device).expect_err(expected);
        assert!(matches!(err, SpaceError::Size(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("invalid network configuration: {expected}")
        );
    }

    let images = Tensor::<B, 4>::random(
        [2, 3, 16, 16],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let logits = partial.forward(images);
    assert_eq!(logits.dims(), [2, 10]);
    let grads = logits.sum().backward();
    let beta = partial.beta_normal.as_ref().expect("β");
    let grad = beta.val().grad(&grads).expect("β gets a gradient");
    assert_eq!(grad.dims(), [1, 14]);
    assert!(values(grad).iter().any(|g| g.abs() > 0.0));
}
