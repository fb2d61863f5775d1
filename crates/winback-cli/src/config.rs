//! `--config FILE`: a TOML file whose keys are flags of the subcommand. Plain
//! text in, arguments out (no file access here, so it can be fuzzed).

/// `--config=FILE` becomes `--config FILE`.
pub fn split_config_flag(mut args: Vec<String>) -> Vec<String> {
    if let Some(i) = args.iter().position(|a| a.starts_with("--config=")) {
        let v = args[i]["--config=".len()..].to_string();
        args.splice(i..=i, ["--config".to_string(), v]);
    }
    args
}

/// Inserts the flags of the TOML `text` (named `path` in messages) after the
/// subcommand name, before the user's own flags (so the command line wins).
pub fn with_flags(args: Vec<String>, text: &str, path: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{path}: invalid TOML: {e}"))?;
    let mut flags = Vec::new();
    for (k, v) in table {
        match v {
            toml::Value::Boolean(true) => flags.push(format!("--{k}")),
            toml::Value::Boolean(false) => {}
            toml::Value::String(s) => flags.extend([format!("--{k}"), s]),
            toml::Value::Integer(n) => flags.extend([format!("--{k}"), n.to_string()]),
            toml::Value::Float(x) => flags.extend([format!("--{k}"), x.to_string()]),
            toml::Value::Array(a) => {
                flags.extend([format!("--{k}"), a.iter().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).collect::<Vec<_>>().join(",")])
            }
            other => return Err(format!("{path}: unsupported value for {k}: {other}")),
        }
    }
    let mut out = Vec::with_capacity(args.len() + flags.len());
    let mut skip = false;
    let mut inserted = false;
    for (j, a) in args.into_iter().enumerate() {
        let is_sub = j > 0 && !skip && !a.starts_with('-') && !inserted;
        skip = a == "--config";
        out.push(a);
        if is_sub {
            out.append(&mut flags);
            inserted = true;
        }
    }
    Ok(out)
}
