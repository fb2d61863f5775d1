//! Wave outcomes as plain data, so a batch job can feed a wave's results back
//! (see [`crate::WinbackModel::feedback`]): a CSV with either
//! `group,contacted,came_back` (one row per group, counts) or
//! `customer_id,contacted,came_back` (one row per customer, 0/1 or true/false),
//! the latter mapped to groups through the scores of the wave.

use std::io::Read;

use winback_rank::Outcome;

use crate::error::{Error, Result};

/// A contact wave's outcomes, read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveOutcomes {
    /// Where they came from (file name), for messages.
    pub source: String,
    /// Per-group counts, by group id.
    pub outcomes: Vec<Outcome>,
    /// Ids of the customers contacted (per-customer files; empty for per-group files), sorted.
    pub contacted: Vec<String>,
    /// Per-group counts of the control arm (files with an `arm` column):
    /// `contacted` = customers held out, `came_back` = of which came back anyway.
    pub control: Vec<Outcome>,
    /// Ids of the customers held out (per-customer files with an `arm` column;
    /// empty otherwise), sorted: later plans on the model never hold them out
    /// again (a control customer is measured once), and may contact them.
    pub held_out: Vec<String>,
    /// A stable fingerprint of the content (hex), so the same outcomes are never
    /// recorded twice whatever the file's name or row order.
    pub fingerprint: String,
}

/// Reads per-group outcomes (`group,contacted,came_back`) from CSV text.
///
/// ```
/// let csv = "group,contacted,came_back\n1,100,12\n2,80,3\n";
/// let w = winback::read_outcomes(csv.as_bytes(), "wave1.csv")?;
/// assert_eq!((w.outcomes[0].group, w.outcomes[0].contacted, w.outcomes[0].came_back), (1, 100, 12));
/// // The same content in another order has the same fingerprint.
/// let again = winback::read_outcomes("group,contacted,came_back\n2,80,3\n1,100,12\n".as_bytes(), "copy.csv")?;
/// assert_eq!(w.fingerprint, again.fingerprint);
/// assert!(winback::read_outcomes("group,contacted,came_back\n1,ten,2\n".as_bytes(), "w.csv").is_err());
/// # Ok::<(), winback::Error>(())
/// ```
pub fn read_outcomes(reader: impl Read, source: &str) -> Result<WaveOutcomes> {
    read_outcomes_with(reader, source, None)
}

/// A 0/1 column: the loader's yes/no words (an empty cell is not an outcome).
fn flag(v: &str) -> Option<u64> {
    if v.trim().is_empty() {
        return None;
    }
    winback_core::read::parse_flag(v).map(u64::from)
}

/// FNV-1a over bytes: a fingerprint that never changes with the toolchain.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Reads outcomes; rows keyed by `customer_id` are mapped to their group in `scores`
/// (a customer not in the scores is an error naming the line).
pub fn read_outcomes_with(reader: impl Read, source: &str, scores: Option<&crate::Scores>) -> Result<WaveOutcomes> {
    // Line ends as every winback CSV reader sees them (a Windows file's lines numbered right).
    let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(winback_core::read::LineEnds::new(reader));
    let bad = |line: u64, column: &str, value: &str, message: &str| Error::BadOutcome {
        file: source.to_string(),
        line,
        column: column.to_string(),
        value: value.chars().take(80).collect(),
        message: message.to_string(),
    };
    let header: Vec<String> = r.headers().map_err(|e| bad(1, "", "", &e.to_string()))?.iter().map(str::to_string).collect();
    let shown: String = header.join(",").chars().take(200).collect();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| bad(1, name, &shown, "missing column"));
    let by_customer = !header.iter().any(|h| h == "group") && header.iter().any(|h| h == "customer_id");
    let g = if by_customer { col("customer_id")? } else { col("group")? };
    let arm_col = header.iter().position(|h| h == "arm");
    // Per customer with arms, the arm says who was contacted: a `contacted` column beside it is ambiguous.
    if by_customer && arm_col.is_some() && header.iter().any(|h| h == "contacted") {
        return Err(bad(1, "contacted", &shown, "per-customer outcomes with an `arm` column take no `contacted` column (the arm says who was contacted)"));
    }
    let c = if by_customer && arm_col.is_some() { None } else { Some(col("contacted")?) };
    let k = col("came_back")?;
    let group_of: std::collections::HashMap<&str, usize> =
        scores.map(|s| s.customers.iter().map(|c| (c.customer_id.as_str(), c.group)).collect()).unwrap_or_default();
    if by_customer && scores.is_none() {
        return Err(bad(1, "customer_id", "", "per-customer outcomes need the scores of the wave"));
    }
    let mut per_group: std::collections::BTreeMap<usize, (u64, u64)> = std::collections::BTreeMap::new();
    let mut per_group_control: std::collections::BTreeMap<usize, (u64, u64)> = std::collections::BTreeMap::new();
    let mut rows: Vec<(String, u64, u64)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut contacted_ids = Vec::new();
    let mut held_out_ids = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| bad(e.position().map_or(0, |p| p.line()), "", "", &e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let num = |i: usize, name: &str| -> Result<u64> {
            let v = rec.get(i).unwrap_or_default();
            if by_customer {
                return flag(v).ok_or_else(|| bad(line, name, v, "not 0/1, true/false or yes/no"));
            }
            v.parse::<u64>().map_err(|_| bad(line, name, v, "not a whole number ≥ 0"))
        };
        let control = match arm_col {
            None => false,
            Some(a) => match rec.get(a).unwrap_or_default().to_ascii_lowercase().as_str() {
                "contact" => false,
                "control" => true,
                v => return Err(bad(line, "arm", v, "not `contact` or `control`")),
            },
        };
        let back = num(k, "came_back")?;
        let contacted = match c {
            Some(c) => num(c, "contacted")?,
            None => 1,
        };
        if back > contacted {
            return Err(bad(line, "came_back", rec.get(k).unwrap_or_default(), "more came back than were contacted"));
        }
        // Contact rows keep the fingerprint they had before arms existed (with or without an
        // `arm` column): the same outcomes are recognised whichever way they are written.
        let keyed = |key: String| if control { format!("{key}\u{1f}control") } else { key };
        let target = if control { &mut per_group_control } else { &mut per_group };
        if by_customer {
            let id = rec.get(g).unwrap_or_default();
            let group = *group_of.get(id).ok_or_else(|| bad(line, "customer_id", id, "customer not among the scored lapsed customers"))?;
            if !seen.insert(id.to_string()) {
                return Err(bad(line, "customer_id", id, "customer listed twice"));
            }
            let e = target.entry(group).or_default();
            e.0 += contacted;
            e.1 += back;
            if contacted == 1 && !control {
                contacted_ids.push(id.to_string());
            }
            if control {
                held_out_ids.push(id.to_string());
            }
            rows.push((keyed(id.to_string()), contacted, back));
        } else {
            let group = num(g, "group")? as usize;
            if group == 0 {
                return Err(bad(line, "group", "0", "groups are numbered from 1"));
            }
            if target.contains_key(&group) {
                return Err(bad(line, "group", rec.get(g).unwrap_or_default(), "group listed twice"));
            }
            target.insert(group, (contacted, back));
            rows.push((keyed(group.to_string()), contacted, back));
        }
    }
    rows.sort();
    contacted_ids.sort();
    held_out_ids.sort();
    let mut canon = Vec::new();
    canon.extend_from_slice(if by_customer { b"customer\n" } else { b"group\n" });
    for (key, n, b) in &rows {
        canon.extend_from_slice(format!("{key}\u{1f}{n}\u{1f}{b}\n").as_bytes());
    }
    let list = |m: std::collections::BTreeMap<usize, (u64, u64)>| m.into_iter().map(|(group, (contacted, came_back))| Outcome { group, contacted, came_back }).collect();
    Ok(WaveOutcomes {
        source: source.to_string(),
        outcomes: list(per_group),
        contacted: contacted_ids,
        control: list(per_group_control),
        held_out: held_out_ids,
        fingerprint: format!("{:016x}", fnv(&canon)),
    })
}
