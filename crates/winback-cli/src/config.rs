//! `--config FILE`: a TOML file whose keys are flags. Plain text in, arguments
//! out (no file access and no parser here, so it can be fuzzed).
//!
//! ```toml
//! lapse-days = 90            # top level: for every subcommand that takes the flag
//! transactions = "sales.parquet"
//! [fit]                      # a section: for `winback fit` only
//! groups = 12
//! [plan]
//! budget = 5000
//! cost-per-contact = 2.5
//! ```
//!
//! The command line wins: a key is left out when the user gave the same flag, or
//! a flag it cannot be combined with (`--lapse-quantile` over a file's
//! `lapse-days`). A section's key wins over the same key at the top level. A key
//! that no subcommand takes, a section that is not a subcommand, and a key its
//! section's subcommand does not take are errors naming the file.

/// `--config=FILE` becomes `--config FILE`.
pub fn split_config_flag(mut args: Vec<String>) -> Vec<String> {
    if let Some(i) = args.iter().position(|a| a.starts_with("--config=")) {
        let v = args[i]["--config=".len()..].to_string();
        args.splice(i..=i, ["--config".to_string(), v]);
    }
    args
}

/// What the command line accepts, as the CLI's parser describes it.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    /// Each subcommand's name and the long flags it takes (without `--`; the
    /// global ones included).
    pub flags: Vec<(String, Vec<String>)>,
    /// Long flags (without `--`) the user gave, or that cannot be combined with
    /// one the user gave: the file's value of these is left out.
    pub overridden: Vec<String>,
}

impl Accepted {
    fn takes(&self, sub: &str, key: &str) -> bool {
        self.flags.iter().any(|(s, f)| s == sub && f.iter().any(|x| x == key))
    }
    fn anyone_takes(&self, key: &str) -> bool {
        self.flags.iter().any(|(_, f)| f.iter().any(|x| x == key))
    }
}

/// The position of the subcommand's name in `args` (the first word after the
/// program that is neither a flag nor the value of `--config`).
pub fn subcommand_position(args: &[String]) -> Option<usize> {
    let mut skip = false;
    for (j, a) in args.iter().enumerate().skip(1) {
        if !skip && !a.starts_with('-') {
            return Some(j);
        }
        skip = a == "--config";
    }
    None
}

/// One TOML value as the words of its flag.
fn flag_words(k: &str, v: &toml::Value, path: &str) -> Result<Vec<String>, String> {
    Ok(match v {
        toml::Value::Boolean(true) => vec![format!("--{k}")],
        toml::Value::Boolean(false) => vec![],
        toml::Value::String(s) => vec![format!("--{k}"), s.clone()],
        toml::Value::Integer(n) => vec![format!("--{k}"), n.to_string()],
        toml::Value::Float(x) => vec![format!("--{k}"), x.to_string()],
        // A bare TOML date (`at = 2011-12-10`) is the date as written.
        toml::Value::Datetime(d) if d.date.is_some() && d.time.is_none() => vec![format!("--{k}"), d.to_string()],
        toml::Value::Array(a) => vec![format!("--{k}"), a.iter().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).collect::<Vec<_>>().join(",")],
        other => return Err(format!("{path}: unsupported value for {k}: {other}")),
    })
}

/// Inserts the flags of the TOML `text` (named `path` in messages) that the
/// subcommand in `args` takes after its name, before the user's own flags; see
/// the module's documentation for which keys are used.
pub fn with_flags(args: Vec<String>, text: &str, path: &str, accepted: &Accepted) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{path}: invalid TOML: {e}"))?;
    let Some(at) = subcommand_position(&args) else { return Ok(args) };
    let sub = args[at].clone();
    // key -> value: the top level first, then the subcommand's section over it.
    let mut chosen: Vec<(String, toml::Value)> = Vec::new();
    let mut put = |k: &str, v: &toml::Value| match chosen.iter_mut().find(|(x, _)| x == k) {
        Some(slot) => slot.1 = v.clone(),
        None => chosen.push((k.to_string(), v.clone())),
    };
    for (k, v) in &table {
        if let toml::Value::Table(_) = v {
            if !accepted.flags.iter().any(|(s, _)| s == k) {
                return Err(format!("{path}: [{k}] is not a winback subcommand"));
            }
            continue;
        }
        if !accepted.anyone_takes(k) {
            return Err(format!("{path}: {k} is not a flag of any winback subcommand"));
        }
        if accepted.takes(&sub, k) {
            put(k, v);
        }
    }
    if let Some(toml::Value::Table(section)) = table.get(&sub) {
        for (k, v) in section {
            if !accepted.takes(&sub, k) {
                return Err(format!("{path}: [{sub}] {k}: `winback {sub}` has no flag --{k}"));
            }
            put(k, v);
        }
    }
    let mut flags = Vec::new();
    for (k, v) in &chosen {
        if !accepted.overridden.iter().any(|o| o == k) {
            flags.extend(flag_words(k, v, path)?);
        }
    }
    let mut out = args;
    out.splice(at + 1..at + 1, flags);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(overridden: &[&str]) -> Accepted {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Accepted {
            flags: vec![
                ("lapse".into(), s(&["lapse-days", "lapse-quantile", "transactions", "config", "json", "quiet"])),
                ("fit".into(), s(&["lapse-days", "lapse-quantile", "transactions", "groups", "at", "config", "json", "quiet"])),
                ("plan".into(), s(&["transactions", "budget", "cost-per-contact", "config", "json", "quiet"])),
            ],
            overridden: s(overridden),
        }
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const JOB: &str = "lapse-days = 90\ntransactions = \"s.csv\"\n[fit]\ngroups = 12\nlapse-days = 60\n[plan]\nbudget = 500\ncost-per-contact = 2.5\n";

    #[test]
    fn one_file_serves_every_subcommand_and_the_command_line_wins() {
        let fit = with_flags(args(&["winback", "--config", "j.toml", "fit", "--at", "x"]), JOB, "j.toml", &accepted(&[])).unwrap();
        assert_eq!(fit, args(&["winback", "--config", "j.toml", "fit", "--lapse-days", "60", "--transactions", "s.csv", "--groups", "12", "--at", "x"]));
        // plan takes no lapse-days: the top-level key is for the others.
        let plan = with_flags(args(&["winback", "plan", "--config", "j.toml"]), JOB, "j.toml", &accepted(&[])).unwrap();
        assert_eq!(plan, args(&["winback", "plan", "--transactions", "s.csv", "--budget", "500", "--cost-per-contact", "2.5", "--config", "j.toml"]));
        // The user gave --lapse-quantile, which excludes --lapse-days: the file's is left out.
        let lapse = with_flags(args(&["winback", "lapse", "--lapse-quantile", "0.5"]), JOB, "j.toml", &accepted(&["lapse-quantile", "lapse-days"])).unwrap();
        assert_eq!(lapse, args(&["winback", "lapse", "--transactions", "s.csv", "--lapse-quantile", "0.5"]));
    }

    #[test]
    fn unknown_keys_and_sections_name_the_file() {
        let e = |t: &str| with_flags(args(&["winback", "fit"]), t, "j.toml", &accepted(&[])).unwrap_err();
        assert_eq!(e("lapse-dayz = 3"), "j.toml: lapse-dayz is not a flag of any winback subcommand");
        assert_eq!(e("[fitt]\ngroups = 3"), "j.toml: [fitt] is not a winback subcommand");
        assert_eq!(e("[fit]\nbudget = 3"), "j.toml: [fit] budget: `winback fit` has no flag --budget");
        assert_eq!(e("groups = { a = 1 }\n[fit]\n"), "j.toml: [groups] is not a winback subcommand");
        assert!(e("x = ").starts_with("j.toml: invalid TOML"));
        // A section of another subcommand is not checked against this one.
        assert!(with_flags(args(&["winback", "lapse"]), "[plan]\nbudget = 3", "j.toml", &accepted(&[])).is_ok());
        // A bare TOML date is the date as written (it was "unsupported value"); a date-time is not a date.
        let fit = with_flags(args(&["winback", "fit"]), "at = 2011-12-10", "j.toml", &accepted(&[])).unwrap();
        assert_eq!(fit, args(&["winback", "fit", "--at", "2011-12-10"]));
        assert!(e("at = 2011-12-10T10:00:00").starts_with("j.toml: unsupported value for at"));
    }
}
