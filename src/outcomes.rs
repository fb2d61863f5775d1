//! Wave outcomes as plain data: a CSV with `group,contacted,came_back` columns,
//! so a batch job can feed a wave's results back (see [`winback_rank::record_outcomes`]).

use std::io::Read;

use winback_rank::Outcome;

use crate::error::{Error, Result};

/// Reads outcomes from CSV text with a header naming `group`, `contacted`, `came_back`.
///
/// ```
/// let csv = "group,contacted,came_back\n1,100,12\n2,80,3\n";
/// let o = winback::read_outcomes(csv.as_bytes(), "wave1.csv")?;
/// assert_eq!((o[0].group, o[0].contacted, o[0].came_back), (1, 100, 12));
/// assert!(winback::read_outcomes("group,contacted,came_back\n1,ten,2\n".as_bytes(), "w.csv").is_err());
/// # Ok::<(), winback::Error>(())
/// ```
pub fn read_outcomes(reader: impl Read, source: &str) -> Result<Vec<Outcome>> {
    let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(reader);
    let bad = |line: u64, column: &str, value: &str, message: &str| Error::BadOutcome {
        file: source.to_string(),
        line,
        column: column.to_string(),
        value: value.to_string(),
        message: message.to_string(),
    };
    let header: Vec<String> = r.headers().map_err(|e| bad(1, "", "", &e.to_string()))?.iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| bad(1, name, &header.join(","), "missing column"));
    let (g, c, k) = (col("group")?, col("contacted")?, col("came_back")?);
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| bad(e.position().map_or(0, |p| p.line()), "", "", &e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let num = |i: usize, name: &str| -> Result<u64> {
            let v = rec.get(i).unwrap_or_default();
            v.parse::<u64>().map_err(|_| bad(line, name, v, "not a whole number ≥ 0"))
        };
        out.push(Outcome { group: num(g, "group")? as usize, contacted: num(c, "contacted")?, came_back: num(k, "came_back")? });
    }
    Ok(out)
}
