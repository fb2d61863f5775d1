//! The floor under the Parquet load: how long arrow-rs alone takes to decode the
//! columns `winback features` reads, with the reader settings the loader had when
//! this was written (every column projected, row groups split into one contiguous
//! run per thread, one reader per run, 64Ki-row batches; the loader now opens a
//! reader per row group and reads names as dictionaries), doing nothing with the
//! values but touching them. Issue 10's benchmark
//! note compares this with DuckDB's whole query on the same file.
//!
//! ```sh
//! cargo build --release -p winback-core --examples --features parquet
//! target/release/examples/parquet_floor bench-out/synth_10000000_time.parquet
//! ```
//! Prints the in-process seconds of the decode and, as a second figure, of the
//! decode plus one hash of every customer id (the least a grouping must do).
use arrow_array::{Array, ArrayRef, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;
use std::io::Write;
use std::time::Instant;

/// An Fx-style hash of 8-byte words (the loader's id hash is of this kind).
fn word_hash(b: &[u8]) -> u64 {
    b.chunks(8).fold(0u64, |h, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
    })
}

fn touch(a: &ArrayRef, hash_ids: bool) -> u64 {
    match a.as_any().downcast_ref::<StringArray>() {
        Some(s) if hash_ids => s.iter().flatten().map(|v| word_hash(v.as_bytes())).fold(0, u64::wrapping_add),
        Some(s) => s.value_offsets().last().map_or(0, |&o| o as u64),
        None => a.len() as u64,
    }
}

fn decode(path: &str, hash_ids: bool) -> (u64, u64) {
    let meta = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).expect("open")).expect("parquet");
    let groups = meta.metadata().num_row_groups();
    drop(meta);
    let threads = rayon::current_num_threads().min(groups).max(1);
    let per = groups.div_ceil(threads);
    (0..threads)
        .into_par_iter()
        .map(|t| {
            let run: Vec<usize> = (t * per..((t + 1) * per).min(groups)).collect();
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).expect("open"))
                .expect("parquet")
                .with_row_groups(run)
                .with_batch_size(64 * 1024)
                .build()
                .expect("reader");
            let (mut rows, mut sum) = (0u64, 0u64);
            for batch in reader {
                let batch = batch.expect("batch");
                rows += batch.num_rows() as u64;
                sum = batch.columns().iter().enumerate().fold(sum, |s, (i, c)| s.wrapping_add(touch(c, hash_ids && i == 0)));
            }
            (rows, sum)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1.wrapping_add(b.1)))
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: parquet_floor FILE.parquet");
    for hash_ids in [false, true] {
        let t = Instant::now();
        let (rows, sum) = decode(&path, hash_ids);
        // A closed pipe (`| head -1`) ends the output quietly.
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}: {rows} rows in {:.3} s (checksum {sum})",
            if hash_ids { "decode + hash every id" } else { "decode only" },
            t.elapsed().as_secs_f64()
        );
    }
}
