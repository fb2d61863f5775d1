//! Writes a synthetic purchase history of any size as CSV (plus its attribute table).
//!
//! ```sh
//! cargo run --release -p winback-core --example generate -- --customers 100000 --seed 42 --out synth.csv
//! ```
//! Prints the number of lines written. `--attributes FILE` also writes the attribute
//! table; `--days N` sets the period length (default 730 days from 2022-01-01);
//! `--layout time|customer|random` the row order (default customer; real exports are
//! in time order).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use winback_core::synthetic::{Layout, Synthetic, SyntheticConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = SyntheticConfig::default();
    let mut out = PathBuf::from("synthetic.csv");
    let mut attributes = None;
    let mut layout = Layout::Customer;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--customers" => cfg.customers = val()?.parse()?,
            "--seed" => cfg.seed = val()?.parse()?,
            "--days" => cfg.days = val()?.parse()?,
            "--out" => out = val()?.into(),
            "--attributes" => attributes = Some(PathBuf::from(val()?)),
            "--layout" => {
                layout = match val()?.as_str() {
                    "customer" => Layout::Customer,
                    "time" => Layout::Time,
                    "random" => Layout::Random,
                    other => return Err(format!("--layout must be customer, time or random, got {other}").into()),
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let s = Synthetic::new(cfg);
    let n = s.write_csv_in(&out, layout)?;
    if let Some(a) = attributes {
        s.write_attributes_csv(&a)?;
    }
    println!("{n} lines, {} customers -> {}", s.truth().len(), out.display());
    Ok(())
}
