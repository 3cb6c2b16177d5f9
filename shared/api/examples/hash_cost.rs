//! Measures argon2id hash and verify time with the parameters the auth functions use.
//! `cargo run -p rota-api --example hash_cost` (argon2 is optimised even in dev builds).

use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rounds = 40;
    let mut hash_ms = Vec::new();
    let mut verify_ms = Vec::new();
    for i in 0..rounds {
        let password = format!("benchmark-password-{i}");
        let t = Instant::now();
        let phc = rota_api::auth::password::hash_blocking(&password).expect("hash");
        hash_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        assert!(rota_api::auth::password::verify_blocking(&password, &phc));
        verify_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    for (name, v) in [("hash", &mut hash_ms), ("verify", &mut verify_ms)] {
        v.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {rounds} runs (m={} KiB, t={}, p={})",
            percentile(v, 0.5),
            percentile(v, 0.95),
            v[v.len() - 1],
            rota_api::auth::password::MEMORY_KIB,
            rota_api::auth::password::ITERATIONS,
            rota_api::auth::password::PARALLELISM,
        );
    }
}
