//! Wave outcomes as plain data, so a batch job can feed a wave's results back
//! (see [`crate::WinbackModel::record_outcomes`]): a CSV with either
//! `group,contacted,came_back` (one row per group, counts) or
//! `customer_id,contacted,came_back` (one row per customer, 0/1 or true/false),
//! the latter mapped to groups through the scores of the wave.

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
    read_outcomes_with(reader, source, None)
}

/// Reads outcomes; rows keyed by `customer_id` are mapped to their group in `scores`
/// (a customer not in the scores is an error naming the line).
pub fn read_outcomes_with(reader: impl Read, source: &str, scores: Option<&crate::Scores>) -> Result<Vec<Outcome>> {
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
    let by_customer = !header.iter().any(|h| h == "group") && header.iter().any(|h| h == "customer_id");
    let g = if by_customer { col("customer_id")? } else { col("group")? };
    let (c, k) = (col("contacted")?, col("came_back")?);
    let group_of: std::collections::HashMap<&str, usize> =
        scores.map(|s| s.customers.iter().map(|c| (c.customer_id.as_str(), c.group)).collect()).unwrap_or_default();
    if by_customer && scores.is_none() {
        return Err(bad(1, "customer_id", "", "per-customer outcomes need the scores of the wave"));
    }
    let mut per_group: std::collections::BTreeMap<usize, (u64, u64)> = std::collections::BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| bad(e.position().map_or(0, |p| p.line()), "", "", &e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let num = |i: usize, name: &str| -> Result<u64> {
            let v = rec.get(i).unwrap_or_default();
            match v.to_ascii_lowercase().as_str() {
                "true" | "yes" if by_customer => Ok(1),
                "false" | "no" if by_customer => Ok(0),
                _ => v.parse::<u64>().map_err(|_| bad(line, name, v, "not a whole number ≥ 0")),
            }
        };
        if by_customer {
            let id = rec.get(g).unwrap_or_default();
            let group = *group_of.get(id).ok_or_else(|| bad(line, "customer_id", id, "customer not among the scored lapsed customers"))?;
            if !seen.insert(id.to_string()) {
                return Err(bad(line, "customer_id", id, "customer listed twice"));
            }
            let (contacted, back) = (num(c, "contacted")?, num(k, "came_back")?);
            if contacted > 1 || back > contacted {
                return Err(bad(line, "came_back", rec.get(k).unwrap_or_default(), "per-customer outcomes are 0/1 and came_back ≤ contacted"));
            }
            let e = per_group.entry(group).or_default();
            e.0 += contacted;
            e.1 += back;
        } else {
            out.push(Outcome { group: num(g, "group")? as usize, contacted: num(c, "contacted")?, came_back: num(k, "came_back")? });
        }
    }
    out.extend(per_group.into_iter().map(|(group, (contacted, came_back))| Outcome { group, contacted, came_back }));
    Ok(out)
}
