//! Times one forward and backward pass of the search supernet on the CPU backend.
use bionas::backend::{Autodiff, Cpu};
use bionas::search_space::SupernetConfig;
use burn::tensor::{Distribution, Tensor};
use std::time::Instant;

type B = Autodiff<Cpu>;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let device = Default::default();
    for (c, layers, batch) in [(4, 3, 32)] {
        let net = SupernetConfig::new().with_channels(c).with_layers(layers).init::<B>(&device).unwrap();
        let x = Tensor::<B, 4>::random([batch, 3, 32, 32], Distribution::Default, &device);
        let t = Instant::now();
        let y = net.forward(x.clone()).sum();
        let f = t.elapsed().as_secs_f64();
        let _g = y.backward();
        let total = t.elapsed().as_secs_f64();
        let inner = burn::module::AutodiffModule::valid(&net);
        let xi = x.clone().inner();
        let t2 = Instant::now();
        let _ = inner.forward(xi).sum().into_scalar();
        println!("  inner fwd {:.2}s", t2.elapsed().as_secs_f64());
        println!("C={c} layers={layers} batch={batch}: fwd {f:.2}s, fwd+bwd {total:.2}s, {:.1} img/s", batch as f64 / total);
    }
}
