//! A short, seeded fuzz run on stable Rust: every seed of `corpus/<target>/`
//! and mutations of it (bit flips, byte changes, cuts, splices) go through the
//! same bodies as the libFuzzer targets. CI runs it; the long runs are
//! `cargo +nightly fuzz run <target>` (see the README).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use winback_stats::Rng;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir).map(|d| d.flatten().filter_map(|e| std::fs::read(e.path()).ok()).collect()).unwrap_or_default();
    out.sort();
    out
}

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [b'0', b'9', b'-', b',', b'"', b'\n', b'{', b'}', b'[', b']', b'e', 0xff, b'.', b' '][rng.below(14)];
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.truncate(i);
            }
            3 if !v.is_empty() => {
                let (a, b) = (rng.below(v.len()), rng.below(v.len()));
                let (a, b) = (a.min(b), a.max(b));
                v.drain(a..b);
            }
            4 if !other.is_empty() && !v.is_empty() => {
                let (i, j) = (rng.below(v.len()), rng.below(other.len()));
                v.splice(i..i, other[j..].iter().take(64).copied());
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let digits = format!("{}", [0i64, -1, 1, 2, 1 << 40, i64::MAX, 36_501][rng.below(7)]);
                v.splice(i..i, digits.bytes());
            }
        }
    }
    v
}

fn run(target: &str, body: fn(&[u8]), extra: Vec<Vec<u8>>, rounds: usize) {
    let mut pool = seeds(target);
    pool.extend(extra);
    assert!(!pool.is_empty(), "no seeds for {target}");
    for s in &pool {
        body(s);
    }
    let mut rng = Rng::new(0x5eed);
    for _ in 0..rounds {
        let a = &pool[rng.below(pool.len())];
        let b = &pool[rng.below(pool.len())];
        body(&mutate(&mut rng, a, b));
    }
}

#[test]
fn csv_reader() {
    run("csv_reader", winback_fuzz::csv_reader, vec![], 3_000);
}

#[test]
fn parquet_reader() {
    run("parquet_reader", winback_fuzz::parquet_reader, vec![], 1_000);
}

#[test]
fn model_loader() {
    run("model_loader", winback_fuzz::model_loader, vec![winback_fuzz::seed_model().into_bytes()], 1_500);
}

#[test]
fn outcomes_reader() {
    run("outcomes_reader", winback_fuzz::outcomes_reader, vec![], 3_000);
}

#[test]
fn config_toml() {
    run("config_toml", winback_fuzz::config_toml, vec![], 3_000);
}

/// Writes the model seed file for `cargo fuzz` (`cargo test -p winback-fuzz -- --ignored write_model_seed`).
#[test]
#[ignore]
fn write_model_seed() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/model_loader/model.json");
    std::fs::write(path, winback_fuzz::seed_model()).unwrap();
}
