//! The covariance matrix adaptation evolution strategy (CMA-ES), as in Hansen's tutorial
//! ("The CMA Evolution Strategy: A Tutorial", 2016), with a lazily updated
//! eigendecomposition.
//!
//! Each generation samples `λ` points `x_k = m + σ·B·D·z_k`, `z_k ~ N(0, I)`, from the
//! search distribution `N(m, σ²C)` with `C = B·D²·Bᵀ`; [`CmaEs::tell`] ranks them by
//! fitness (lower is better) and moves the mean to the weighted mean of the best `μ = λ/2`,
//! updates the two evolution paths, the covariance (rank-one and rank-μ terms) and the
//! step size (cumulative step-size adaptation).
//!
//! The whole state, the generation counter included, is one serializable value, so a
//! search that is stopped and resumed draws the same populations. Generation `g` draws
//! from a generator seeded with `(seed, g)`: populations differ from one generation to
//! the next, and two runs with one seed are identical.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The state of a CMA-ES run in `n` dimensions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CmaEs {
    n: usize,
    lambda: usize,
    seed: u64,
    generation: u64,
    mean: Vec<f64>,
    sigma: f64,
    /// Covariance, row-major `n × n`.
    cov: Vec<f64>,
    /// Eigenvectors of `cov`, column `j` = vector `j`, row-major `n × n`.
    basis: Vec<f64>,
    /// Square roots of the eigenvalues.
    scales: Vec<f64>,
    path_c: Vec<f64>,
    path_sigma: Vec<f64>,
    /// Evaluations counted at the last eigendecomposition.
    eigen_at: u64,
    evaluations: u64,
}

/// One drawn population: the points and the standard-normal draws behind them.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    /// The `λ` points, each of length `n`.
    pub points: Vec<Vec<f64>>,
}

/// The strategy parameters derived from `n` and `λ` (Hansen's defaults).
struct Params {
    mu: usize,
    weights: Vec<f64>,
    mu_eff: f64,
    c_c: f64,
    c_s: f64,
    c_1: f64,
    c_mu: f64,
    damps: f64,
    chi_n: f64,
}

impl Params {
    fn new(n: usize, lambda: usize) -> Self {
        let nf = n as f64;
        let mu = (lambda / 2).max(1);
        let raw: Vec<f64> = (0..mu)
            .map(|i| (mu as f64 + 0.5).ln() - ((i + 1) as f64).ln())
            .collect();
        let total: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let mu_eff = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        let c_c = (4.0 + mu_eff / nf) / (nf + 4.0 + 2.0 * mu_eff / nf);
        let c_s = (mu_eff + 2.0) / (nf + mu_eff + 5.0);
        let c_1 = 2.0 / ((nf + 1.3).powi(2) + mu_eff);
        let c_mu =
            (1.0 - c_1).min(2.0 * (mu_eff - 2.0 + 1.0 / mu_eff) / ((nf + 2.0).powi(2) + mu_eff));
        let damps = 1.0 + 2.0 * (((mu_eff - 1.0) / (nf + 1.0)).sqrt() - 1.0).max(0.0) + c_s;
        let chi_n = nf.sqrt() * (1.0 - 1.0 / (4.0 * nf) + 1.0 / (21.0 * nf * nf));
        Self {
            mu,
            weights,
            mu_eff,
            c_c,
            c_s,
            c_1,
            c_mu,
            damps,
            chi_n,
        }
    }
}

impl CmaEs {
    /// A run around `mean` with step size `sigma`, `lambda` points per generation
    /// (at least 2), the identity as the initial covariance.
    pub fn new(mean: Vec<f64>, sigma: f64, lambda: usize, seed: u64) -> Self {
        let n = mean.len();
        let mut identity = vec![0.0; n * n];
        for i in 0..n {
            identity[i * n + i] = 1.0;
        }
        Self {
            n,
            lambda: lambda.max(2),
            seed,
            generation: 0,
            mean,
            sigma,
            cov: identity.clone(),
            basis: identity,
            scales: vec![1.0; n],
            path_c: vec![0.0; n],
            path_sigma: vec![0.0; n],
            eigen_at: 0,
            evaluations: 0,
        }
    }

    /// The current mean.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The current step size.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Generations told so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Moves the mean (the paths, covariance and step size are kept): EG-NAS samples around
    /// the current architecture, which gradient-free updates may have moved.
    pub fn recenter(&mut self, mean: &[f64]) {
        self.mean.copy_from_slice(mean);
    }

    /// Draws this generation's `λ` points.
    pub fn ask(&self) -> Population {
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ self.generation.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let n = self.n;
        let points = (0..self.lambda)
            .map(|_| {
                let z: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
                let scaled: Vec<f64> = z.iter().zip(&self.scales).map(|(z, d)| z * d).collect();
                let y = mat_vec(&self.basis, n, &scaled);
                self.mean
                    .iter()
                    .zip(&y)
                    .map(|(m, y)| m + self.sigma * y)
                    .collect()
            })
            .collect();
        Population { points }
    }

    /// Updates the distribution from the population of [`ask`](CmaEs::ask) and the fitness
    /// of each point (lower is better).
    ///
    /// # Panics
    /// If the population or the fitness values do not match `λ` points of `n` values.
    pub fn tell(&mut self, population: &Population, fitness: &[f64]) {
        assert_eq!(population.points.len(), self.lambda, "population size");
        assert_eq!(fitness.len(), self.lambda, "one fitness per point");
        let n = self.n;
        let p = Params::new(n, self.lambda);
        let mut order: Vec<usize> = (0..self.lambda).collect();
        order.sort_by(|&a, &b| fitness[a].total_cmp(&fitness[b]));
        let old = self.mean.clone();
        let steps: Vec<Vec<f64>> = order[..p.mu]
            .iter()
            .map(|&k| {
                population.points[k]
                    .iter()
                    .zip(&old)
                    .map(|(x, m)| (x - m) / self.sigma)
                    .collect()
            })
            .collect();
        let mut y_w = vec![0.0; n];
        for (w, y) in p.weights.iter().zip(&steps) {
            for (acc, v) in y_w.iter_mut().zip(y) {
                *acc += w * v;
            }
        }
        for (m, (o, y)) in self.mean.iter_mut().zip(old.iter().zip(&y_w)) {
            *m = o + self.sigma * y;
        }
        self.update_paths(&p, &y_w);
        self.update_covariance(&p, &steps);
        let norm = self.path_sigma.iter().map(|v| v * v).sum::<f64>().sqrt();
        self.sigma *= ((p.c_s / p.damps) * (norm / p.chi_n - 1.0)).exp();
        self.generation += 1;
        self.evaluations += self.lambda as u64;
        let interval = self.lambda as f64 / (p.c_1 + p.c_mu) / n as f64 / 10.0;
        if (self.evaluations - self.eigen_at) as f64 > interval {
            self.eigen_at = self.evaluations;
            let (values, vectors) = symmetric_eigen(&self.cov, n);
            self.scales = values.iter().map(|v| v.max(1e-20).sqrt()).collect();
            self.basis = vectors;
        }
    }

    fn h_sigma(&self, p: &Params) -> f64 {
        let norm = self.path_sigma.iter().map(|v| v * v).sum::<f64>().sqrt();
        let decay = 1.0 - (1.0 - p.c_s).powi(2 * (self.generation as i32 + 1));
        let limit = (1.4 + 2.0 / (self.n as f64 + 1.0)) * p.chi_n;
        if norm / decay.max(1e-300).sqrt() < limit {
            1.0
        } else {
            0.0
        }
    }

    fn update_paths(&mut self, p: &Params, y_w: &[f64]) {
        let n = self.n;
        // C^{-1/2} y_w = B · D^{-1} · Bᵀ · y_w
        let projected = mat_t_vec(&self.basis, n, y_w);
        let whitened: Vec<f64> = projected
            .iter()
            .zip(&self.scales)
            .map(|(v, d)| v / d)
            .collect();
        let inv_sqrt = mat_vec(&self.basis, n, &whitened);
        let gain_s = (p.c_s * (2.0 - p.c_s) * p.mu_eff).sqrt();
        for (ps, v) in self.path_sigma.iter_mut().zip(&inv_sqrt) {
            *ps = (1.0 - p.c_s) * *ps + gain_s * v;
        }
        let h = self.h_sigma(p);
        let gain_c = h * (p.c_c * (2.0 - p.c_c) * p.mu_eff).sqrt();
        for (pc, y) in self.path_c.iter_mut().zip(y_w) {
            *pc = (1.0 - p.c_c) * *pc + gain_c * y;
        }
    }

    fn update_covariance(&mut self, p: &Params, steps: &[Vec<f64>]) {
        let n = self.n;
        let h = self.h_sigma(p);
        let correction = (1.0 - h) * p.c_c * (2.0 - p.c_c);
        let keep = 1.0 - p.c_1 - p.c_mu;
        for i in 0..n {
            for j in 0..=i {
                let old = self.cov[i * n + j];
                let rank_one = self.path_c[i] * self.path_c[j] + correction * old;
                let rank_mu: f64 = p
                    .weights
                    .iter()
                    .zip(steps)
                    .map(|(w, y)| w * y[i] * y[j])
                    .sum();
                let value = keep * old + p.c_1 * rank_one + p.c_mu * rank_mu;
                self.cov[i * n + j] = value;
                self.cov[j * n + i] = value;
            }
        }
    }
}

/// One draw of `N(0, 1)` (Box–Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `M · v` for row-major `n × n` `M`.
fn mat_vec(m: &[f64], n: usize, v: &[f64]) -> Vec<f64> {
    (0..n)
        .map(|i| {
            m[i * n..(i + 1) * n]
                .iter()
                .zip(v)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect()
}

/// `Mᵀ · v` for row-major `n × n` `M`.
fn mat_t_vec(m: &[f64], n: usize, v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; n];
    for (i, vi) in v.iter().enumerate() {
        for (o, a) in out.iter_mut().zip(&m[i * n..(i + 1) * n]) {
            *o += a * vi;
        }
    }
    out
}

/// Eigenvalues and eigenvectors (columns of the row-major result) of a symmetric matrix,
/// by cyclic Jacobi rotations.
pub(crate) fn symmetric_eigen(matrix: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(1e-300);
    for _sweep in 0..64 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                rotate(&mut a, &mut v, n, p, q);
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// One Jacobi rotation zeroing `a[p][q]`, accumulated into `v`.
fn rotate(a: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = a[p * n + q];
    if apq.abs() < 1e-300 {
        return;
    }
    let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let t = if theta == 0.0 { 1.0 } else { t };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..n {
        let (akp, akq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
    }
    for k in 0..n {
        let (apk, aqk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
    }
    for k in 0..n {
        let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
        v[k * n + p] = c * vkp - s * vkq;
        v[k * n + q] = s * vkp + c * vkq;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance(x: &[f64]) -> f64 {
        (x[0] - 3.0).powi(2) + (x[1] + 2.0).powi(2)
    }

    /// Runs the 2-D toy: returns each generation's population and best distance.
    fn toy(seed: u64) -> (Vec<Population>, Vec<f64>) {
        let mut es = CmaEs::new(vec![0.0, 0.0], 1.0, 8, seed);
        let mut populations = Vec::new();
        let mut best = Vec::new();
        for _ in 0..20 {
            let population = es.ask();
            let fitness: Vec<f64> = population.points.iter().map(|x| distance(x)).collect();
            es.tell(&population, &fitness);
            best.push(fitness.iter().copied().fold(f64::INFINITY, f64::min));
            populations.push(population);
        }
        (populations, best)
    }

    #[test]
    fn populations_evolve_and_the_best_distance_falls() {
        let (populations, best) = toy(7);
        assert_ne!(populations[0], populations[1], "generations 1 and 2 differ");
        let first = best[..3].iter().copied().fold(f64::INFINITY, f64::min);
        let last = best[17..].iter().copied().fold(f64::INFINITY, f64::min);
        assert!(last < first * 0.1, "best distance {first} -> {last}");
        assert!(last < 0.5, "best distance after 20 generations: {last}");
    }

    #[test]
    fn one_seed_gives_one_run_and_the_state_round_trips() {
        let (a, best_a) = toy(3);
        let (b, best_b) = toy(3);
        assert_eq!(a, b);
        assert_eq!(best_a, best_b);
        let (c, _) = toy(4);
        assert_ne!(a[0], c[0]);
        let mut es = CmaEs::new(vec![0.5, -0.5, 1.0], 0.3, 6, 9);
        for _ in 0..4 {
            let pop = es.ask();
            let f: Vec<f64> = pop.points.iter().map(|x| x.iter().sum()).collect();
            es.tell(&pop, &f);
        }
        let json = serde_json::to_string(&es).expect("serialize");
        let back: CmaEs = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, es);
        assert_eq!(back.ask(), es.ask());
    }

    #[test]
    fn jacobi_recovers_a_known_decomposition() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let (mut values, _) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        values.sort_by(f64::total_cmp);
        assert!((values[0] - 1.0).abs() < 1e-12 && (values[1] - 3.0).abs() < 1e-12);
        let m = [4.0, 1.0, 0.5, 1.0, 3.0, -0.2, 0.5, -0.2, 1.0];
        let (values, v) = symmetric_eigen(&m, 3);
        for i in 0..3 {
            for j in 0..3 {
                let rebuilt: f64 = (0..3)
                    .map(|k| v[i * 3 + k] * values[k] * v[j * 3 + k])
                    .sum();
                assert!((rebuilt - m[i * 3 + j]).abs() < 1e-10);
            }
        }
    }
}
