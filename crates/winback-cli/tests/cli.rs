//! Every subcommand against fixture files, with each exit code and its message,
//! and the HTML report opened in headless Chromium.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as Cmd;
use predicates::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("winback-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn retail() -> Vec<String> {
    let f = root().join("datasets/online_retail_invoices.csv.gz");
    [
        "--transactions",
        f.to_str().unwrap(),
        "--date-col",
        "invoice_date",
        "--order-col",
        "invoice_no",
        "--region-col",
        "country",
        "--cancel-col",
        "is_cancellation",
        "--quantity-col",
        "quantity",
        "--at",
        "2011-12-10",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn winback() -> Cmd {
    Cmd::cargo_bin("winback").unwrap()
}

/// A model fitted once per test that needs one.
fn model(name: &str) -> PathBuf {
    let m = tmp(name);
    winback().arg("fit").args(retail()).args(["--model", m.to_str().unwrap()]).assert().success();
    m
}

#[test]
fn lapse_prints_threshold_and_json() {
    winback().arg("lapse").args(retail()).assert().success().stdout(predicate::str::contains("lapse threshold 110 days")).stdout(predicate::str::contains("1297 of 4339"));
    let out = winback().arg("lapse").args(retail()).arg("--json").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["threshold_days"], 110);
    assert_eq!(v["lapsed"], 1297);
    // The load report rides along (a batch job reads it from stdout), the same
    // numbers as the text report on stderr.
    let r = &v["load_report"];
    let loud: Vec<String> = retail().into_iter().filter(|a| a != "--quiet").collect();
    let out = winback().arg("lapse").args(loud).arg("--json").output().unwrap();
    assert_eq!(&serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["load_report"], r);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    assert!(first.contains(&format!("{} rows read, {} used", r["rows_read"], r["rows_used"])), "{first} / {r}");
    assert!(r["checks"].is_array(), "{r}");
}

/// Features at a cutoff inside the data: the rows on or after it (a bad amount
/// among them) are counted in the load report and left out, and the table is the
/// one of the rows before it; `--strict` still checks every row.
#[test]
fn features_leave_out_the_rows_on_or_after_the_cutoff() {
    let before = "customer_id,date,amount\na,2024-01-05,10\na,2024-03-01,5\nb,2024-02-10,7.5\n";
    let (short, long) = (tmp("cut-before.csv"), tmp("cut-all.csv"));
    std::fs::write(&short, before).unwrap();
    std::fs::write(&long, format!("{before}a,2024-06-01,4\nc,2024-07-01,9\nb,2024-08-01,oops\n")).unwrap();
    let run = |f: &Path, strict: bool| {
        let mut c = winback();
        c.args(["features", "--transactions", f.to_str().unwrap(), "--at", "2024-06-01", "--all", "-o", "-"]);
        if strict {
            c.arg("--strict");
        }
        c.output().unwrap()
    };
    let (cut, all) = (run(&short, false), run(&long, false));
    assert!(cut.status.success() && all.status.success());
    assert_eq!(String::from_utf8(all.stdout).unwrap(), String::from_utf8(cut.stdout).unwrap());
    let report = String::from_utf8(all.stderr).unwrap();
    assert!(report.contains("6 rows read, 3 used (0 returns netted), 3 skipped; 2 customers, 3 purchases"), "{report}");
    assert!(report.contains("  skipped          3  dated on or after the cutoff (not needed at it)"), "{report}");
    assert!(!report.contains("amount is not"), "{report}");
    let strict = run(&long, true);
    assert!(!strict.status.success());
    assert!(String::from_utf8(strict.stderr).unwrap().contains("line 7, column `amount`"));
    // `lapse` reads for its cutoff too: the same answer, the later rows counted.
    let lapse = |f: &Path| {
        let out = winback().args(["lapse", "--transactions", f.to_str().unwrap(), "--at", "2024-06-01", "--lapse-days", "30", "-q", "--json"]).output().unwrap();
        assert!(out.status.success());
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let report = v.as_object_mut().unwrap().remove("load_report").unwrap();
        (v, report["skipped"].clone())
    };
    let ((cut, cut_skipped), (all, all_skipped)) = (lapse(&short), lapse(&long));
    assert_eq!((cut["lapsed"].as_u64(), all), (Some(2), cut));
    assert_eq!((cut_skipped, all_skipped), (serde_json::json!([]), serde_json::json!([["after_cutoff", 3]])));
}

#[test]
fn timings_name_each_step_with_its_seconds() {
    let out = tmp("timed.parquet");
    let run = |timed: bool| {
        let mut c = winback();
        c.args(["features", "--all", "-o", out.to_str().unwrap()]).args(retail());
        if timed {
            c.arg("--timings");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stderr).unwrap()
    };
    assert!(!run(false).contains("timings:"));
    let err = run(true);
    let lines: Vec<&str> = err.lines().skip_while(|l| !l.starts_with("timings: step")).collect();
    let names = ["reading ", "grouping lines into purchases", "learning the features", "building and writing features", "outside these steps", "total"];
    assert_eq!(lines.len(), names.len() + 1, "{err}");
    assert!(lines[0].ends_with("wall s    CPU s"), "{err}");
    let mut walls = Vec::new();
    for (line, name) in lines[1..].iter().zip(names) {
        assert!(line.trim_start().starts_with(name), "{line:?} is not {name:?}: {err}");
        let fields: Vec<&str> = line.split_whitespace().rev().take(2).collect();
        let wall: f64 = fields[1].parse().unwrap();
        // CPU seconds on Linux, a dash elsewhere.
        assert!(fields[0] == "–" || fields[0].parse::<f64>().is_ok_and(|c| c >= 0.0), "{line}");
        assert!(wall >= 0.0, "{line}");
        walls.push(wall);
    }
    // The steps and the time outside them make the total (each rounded to 0.01 s).
    let total = walls.pop().unwrap();
    let sum: f64 = walls.iter().sum();
    assert!((sum - total).abs() <= 0.03, "{sum} against {total}: {err}");
    // A failed command still says how far it got.
    let failed = winback().args(["features", "--transactions", "/nonexistent.csv", "--at", "2011-12-10", "-q", "--timings"]).output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8(failed.stderr).unwrap();
    assert!(err.contains("timings: step") && err.lines().last().unwrap().trim_start().starts_with("total"), "{err}");
}

#[test]
fn features_writes_csv_and_parquet() {
    let out = winback().arg("features").args(retail()).args(["--lapse-days", "120", "-o", "-"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("customer_id,recency_days,purchases,"), "{}", &text[..80]);
    assert!(text.lines().count() > 1000);
    let pq = tmp("features.parquet");
    winback().arg("features").args(retail()).args(["-o", pq.to_str().unwrap()]).assert().success();
    assert!(std::fs::read(&pq).unwrap().starts_with(b"PAR1"));
    // Typed as Python returns them: integer ids as int64 (the sample's ids are plain
    // integers), counts and groups as int64, never unsigned (Spark has no unsigned types).
    let schema = |p: &std::path::Path| {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(p).unwrap()).unwrap().schema().clone()
    };
    let f = schema(&pq);
    assert_eq!(f.field_with_name("customer_id").unwrap().data_type(), &arrow_schema::DataType::Int64);
    assert_eq!(f.field_with_name("recency_days").unwrap().data_type(), &arrow_schema::DataType::Float64);
    let m = model("m-types.json");
    let (sc, contacts) = (tmp("scores.parquet"), tmp("contacts.parquet"));
    winback().arg("score").args(["--model", m.to_str().unwrap()]).args(retail()).args(["-o", sc.to_str().unwrap()]).assert().success();
    winback().arg("plan").args(["--model", m.to_str().unwrap()]).args(retail()).args(["-o", contacts.to_str().unwrap(), "--control-share", "0.2"]).assert().success();
    let s = schema(&sc);
    assert_eq!(s.field_with_name("customer_id").unwrap().data_type(), &arrow_schema::DataType::Int64);
    assert_eq!(s.field_with_name("group").unwrap().data_type(), &arrow_schema::DataType::Int64);
    let c = schema(&contacts);
    assert_eq!(c.field_with_name("rank").unwrap().data_type(), &arrow_schema::DataType::Int64);
    assert_eq!(c.field_with_name("group").unwrap().data_type(), &arrow_schema::DataType::Int64);
    // Ids that are not plain integers stay text: "007" would lose its zeros. Decided on
    // the whole history, so a table that happens to list only "12" is text too.
    let padded = tmp("padded.csv");
    std::fs::write(&padded, "customer_id,date,amount\n007,2024-05-25,20\n12,2024-01-05,7.5\n12,2024-02-01,3\n").unwrap();
    for (flags, out) in [(vec!["--all"], tmp("padded-all.parquet")), (vec!["--lapse-days", "30"], tmp("padded-lapsed.parquet"))] {
        winback().args(["features", "--transactions", padded.to_str().unwrap(), "--at", "2024-06-01", "-o", out.to_str().unwrap()]).args(&flags).assert().success();
        assert_eq!(schema(&out).field_with_name("customer_id").unwrap().data_type(), &arrow_schema::DataType::Utf8, "{flags:?}");
    }
}

/// `-q` hides the load report but not what looks wrong in the data.
#[test]
fn quiet_still_says_the_data_checks() {
    let f = tmp("twins.csv");
    std::fs::write(&f, "customer_id,date,amount\n17850,2024-01-05,20\n17850.0,2024-02-01,7.5\n12,0001-01-01,3\n12,2024-03-01,3\n").unwrap();
    winback()
        .args(["-q", "lapse", "--transactions", f.to_str().unwrap(), "--at", "2024-06-01", "--lapse-days", "30"])
        .assert()
        .success()
        .stderr(predicate::str::contains("twins.csv: check: the dates span 2023 years: a placeholder date"))
        .stderr(predicate::str::contains("twins.csv: check: 1 customer ids are another id with a decimal zero added (17850.0)"))
        .stderr(predicate::str::contains("rows read").not());
}

#[test]
fn a_closed_stdout_ends_quietly_with_sigpipes_status() {
    // `winback score -o - | head -1`: the reader goes away; no "Broken pipe" error.
    let m = model("m-pipe.json");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("winback"))
        .arg("score")
        .args(["--model", m.to_str().unwrap()])
        .args(retail())
        .args(["-o", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn fit_score_plan_and_feedback() {
    let m = model("m1.json");
    // score: one row per lapsed customer with the documented columns.
    let out = winback().arg("score").args(["--model", m.to_str().unwrap()]).args(retail()).args(["-o", "-"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("customer_id,group,probability,probability_low,probability_high,"));
    assert_eq!(text.lines().count(), 1297 + 1);
    // plan --json with the documented keys; contact list file.
    let contacts = tmp("contacts.csv");
    let out = winback()
        .arg("plan")
        .args(["--model", m.to_str().unwrap()])
        .args(retail())
        .args(["--objective", "profit", "--cost-per-contact", "2", "--margin", "0.3", "--target-winbacks", "150", "--json", "-o", contacts.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["groups_contacted", "groups_skipped", "contacts", "expected_winbacks", "cost", "cost_saved", "steps"] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["stop"], "target_reached");
    let list = std::fs::read_to_string(&contacts).unwrap();
    assert!(list.starts_with("rank,arm,customer_id,group,probability,expected_value,rule"));
    assert_eq!(list.lines().count() as u64 - 1, v["contacts"].as_u64().unwrap());
    // feedback: group 1 did badly; its probability drops in the saved model.
    let outcomes = tmp("wave1.csv");
    std::fs::write(&outcomes, "group,contacted,came_back\n1,40,1\n").unwrap();
    let before: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    let m2 = tmp("m1-after.json");
    winback()
        .arg("feedback")
        .args(["--model", m.to_str().unwrap(), "--model-out", m2.to_str().unwrap(), "--outcomes", outcomes.to_str().unwrap()])
        .args(retail())
        .assert()
        .success()
        .stdout(predicate::str::contains("stop:"));
    let after: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m2).unwrap()).unwrap();
    let p = |v: &serde_json::Value| v["segmentation"]["groups"][0]["probability"].as_f64().unwrap();
    assert!(p(&after) < p(&before), "{} !< {}", p(&after), p(&before));
    // A bad plan flag (exit 2) leaves the model file as it was: the wave is not recorded twice.
    std::fs::write(&outcomes, "group,contacted,came_back\n1,40,1\n").unwrap();
    let untouched = std::fs::read_to_string(&m).unwrap();
    winback()
        .arg("feedback")
        .args(["--model", m.to_str().unwrap(), "--outcomes", outcomes.to_str().unwrap(), "--margin", "2"])
        .args(retail())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("margin must be in (0, 1], got 2"));
    assert_eq!(std::fs::read_to_string(&m).unwrap(), untouched);
    // The model cannot be saved: the command fails and leaves no contact list of the
    // unrecorded wave behind (it was written first, with a success-looking summary).
    let list_not_written = tmp("wave1-contacts-not-written.csv");
    winback()
        .arg("feedback")
        .args(["--model", m.to_str().unwrap(), "--model-out", "/nonexistent/dir/m.json", "--outcomes", outcomes.to_str().unwrap()])
        .args(["-o", list_not_written.to_str().unwrap(), "--json"])
        .args(retail())
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty());
    assert!(!list_not_written.exists());
    // More contacts than the group has customers: refused.
    std::fs::write(&outcomes, "group,contacted,came_back\n9,100000,1\n").unwrap();
    winback()
        .arg("feedback")
        .args(["--model", m.to_str().unwrap(), "--model-out", m2.to_str().unwrap(), "--outcomes", outcomes.to_str().unwrap()])
        .args(retail())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wave1.csv: group 9: 100000 contacted, but only 217 of its customers are left after the recorded waves"));
    // Bad outcomes: exit 1 naming file, line, column and value.
    std::fs::write(&outcomes, "group,contacted,came_back\n1,forty,1\n").unwrap();
    winback()
        .arg("feedback")
        .args(["--model", m.to_str().unwrap(), "--model-out", m2.to_str().unwrap(), "--outcomes", outcomes.to_str().unwrap()])
        .args(retail())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wave1.csv, line 2, column `contacted`: not a whole number ≥ 0 (value \"forty\")"));
}

/// `--strict` covers the attribute table too: a short row or an unreadable number
/// is refused naming the file (it was counted, and hidden by -q).
#[test]
fn strict_refuses_bad_attribute_rows() {
    let attrs = tmp("attrs-strict.csv");
    std::fs::write(&attrs, "customer_id,age,region\n12346,34,North\n12347,41\n").unwrap();
    let out = tmp("features-strict.csv");
    let tx = tmp("tx-strict.csv");
    std::fs::write(&tx, "customer_id,date,amount\n12346,2024-01-05,10\n12346,2024-03-01,12\n12347,2024-02-01,8\n12347,2024-02-20,9\n").unwrap();
    let input = ["--transactions", tx.to_str().unwrap(), "--at", "2024-07-01", "--all"];
    winback()
        .arg("features")
        .args(input)
        .args(["--attributes", attrs.to_str().unwrap(), "--strict", "-q", "-o", out.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("strict mode refuses 1 rows with another field count than the header"));
    winback().arg("features").args(input).args(["--attributes", attrs.to_str().unwrap(), "-q", "-o", out.to_str().unwrap()]).assert().success();
}

/// Output formats follow the name as the readers do: `.pq` (any case) is Parquet,
/// `.gz` gzip-compressed CSV (both were written as plain CSV).
#[test]
fn output_format_follows_the_name() {
    let tx = tmp("tx-formats.csv");
    std::fs::write(&tx, "customer_id,date,amount\na,2024-01-05,10\na,2024-03-01,12\nb,2024-02-01,8\n").unwrap();
    let input = ["--transactions", tx.to_str().unwrap(), "--at", "2024-07-01", "--all", "-q"];
    let plain = tmp("features-plain.csv");
    winback().arg("features").args(input).args(["-o", plain.to_str().unwrap()]).assert().success();
    let gz = tmp("features.csv.gz");
    winback().arg("features").args(input).args(["-o", gz.to_str().unwrap()]).assert().success();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()), &mut text).unwrap();
    assert_eq!(text, std::fs::read_to_string(&plain).unwrap());
    for name in ["features.pq", "features.PARQUET"] {
        let pq = tmp(name);
        winback().arg("features").args(input).args(["-o", pq.to_str().unwrap()]).assert().success();
        assert_eq!(&std::fs::read(&pq).unwrap()[..4], b"PAR1", "{name}");
    }
}

/// Whole-or-nothing writes still write where the user points: a device (/dev/null),
/// through a link (the file it points to, permissions kept); a directory is refused
/// before anything is written.
#[test]
fn tables_go_where_the_target_points() {
    use std::os::unix::fs::PermissionsExt;
    let tx = tmp("tx-targets.csv");
    std::fs::write(&tx, "customer_id,date,amount\na,2024-01-05,10\na,2024-03-01,12\nb,2024-02-01,8\n").unwrap();
    let input = ["--transactions", tx.to_str().unwrap(), "--at", "2024-07-01", "--all", "-q"];
    winback().arg("features").args(input).args(["-o", "/dev/null"]).assert().success();
    let real = tmp("features-real.csv");
    std::fs::write(&real, "old").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = tmp("features-link.csv");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&real, &link).unwrap();
    winback().arg("features").args(input).args(["-o", link.to_str().unwrap()]).assert().success();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
    assert!(std::fs::read_to_string(&real).unwrap().starts_with("customer_id,"));
    assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o600);
    let dir = tmp("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    winback().arg("features").args(input).args(["-o", dir.to_str().unwrap()]).assert().code(1).stderr(predicate::str::contains("it is a directory"));
}

#[test]
fn bad_flags_are_refused_before_the_history_is_read() {
    // The history does not exist: the flag's error comes first (it came after a long load).
    let missing = ["--transactions", "/nonexistent/big.parquet", "--at", "2011-12-10"];
    winback().args(["backtest", "--cutoffs", "2011-13-01"]).args(missing).assert().code(2).stderr(predicate::str::contains("--cutoffs"));
    winback()
        .args(["feedback", "--model", "/nonexistent/m.json", "--outcomes", "/nonexistent/w.csv"])
        .args(missing)
        .assert()
        .failure()
        .stderr(predicate::str::contains("m.json"));
}

#[test]
fn backtest_table_and_json() {
    winback()
        .arg("backtest")
        .args(retail())
        .args(["--cutoffs", "2011-09-01,2011-10-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains("| 2011-10-01 | recency only (10 bins) |"));
    winback().arg("backtest").args(retail()).args(["--cutoffs", "2011-11-01"]).assert().code(2).stderr(predicate::str::contains("its 60-day window ends after 2011-12-10"));
    // JSON: cutoffs as dates, not day numbers; a cutoff given twice is refused.
    let out = winback().arg("--json").arg("backtest").args(retail()).args(["--cutoffs", "2011-09-01,2011-10-01"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cutoffs: Vec<&str> = v["rows"].as_array().unwrap().iter().map(|r| r["cutoff"].as_str().unwrap()).collect();
    assert_eq!(cutoffs, ["2011-09-01", "2011-10-01"]);
    // --json with the table on stdout: refused, not a dropped summary.
    winback()
        .args(["--json", "features"])
        .args(retail())
        .assert()
        .code(2)
        .stderr(predicate::str::diff("winback: --json prints a summary on stdout, where the table goes without -o FILE (the default, `-o -`): write the table to a file with -o FILE, or leave --json out\n"));
    winback()
        .arg("backtest")
        .args(retail())
        .args(["--cutoffs", "2011-10-01,2011-10-01"])
        .assert()
        .code(2)
        .stderr(predicate::str::diff("winback: backtest cutoff 2011-10-01 is given twice\n"));
}

#[test]
fn demo_runs_on_the_bundled_data() {
    winback().args(["demo", "--quiet"]).assert().success().stdout(predicate::str::contains("lapse threshold 110 days")).stdout(predicate::str::contains("stop:"));
    // From the repository, the samples are ./datasets (the report names them so); from
    // elsewhere, the repository the binary was built in.
    winback().current_dir(root()).arg("demo").assert().success().stderr(predicate::str::starts_with("datasets/online_retail_invoices.csv.gz: 25900 rows read"));
    winback().current_dir(std::env::temp_dir()).args(["demo", "--quiet"]).assert().success().stdout(predicate::str::contains("lapse threshold 110 days"));
}

#[test]
fn config_file_supplies_flags_and_command_line_wins() {
    let cfg = tmp("job.toml");
    std::fs::write(&cfg, "lapse-days = 30\n").unwrap();
    let run = |extra: &[&str]| {
        let out = winback().args(["--config", cfg.to_str().unwrap(), "lapse"]).args(retail()).args(extra).arg("--json").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["threshold_days"].as_i64().unwrap()
    };
    assert_eq!(run(&[]), 30);
    let out = winback().arg(format!("--config={}", cfg.display())).arg("lapse").args(retail()).arg("--json").output().unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["threshold_days"], 30);
    assert_eq!(run(&["--lapse-days", "45"]), 45);
}

#[test]
fn one_config_file_serves_fit_and_plan_and_yields_to_conflicting_flags() {
    // Found by a review: a file's lapse-days made --lapse-quantile an error, a plan's
    // budget made `fit` fail, and [fit] sections were refused.
    let cfg = tmp("job2.toml");
    std::fs::write(&cfg, "lapse-days = 90\nbudget = 100\ncost-per-contact = 2\n[fit]\ngroups = 4\n").unwrap();
    let c = cfg.to_str().unwrap();
    let out = winback().args(["--config", c, "lapse"]).args(retail()).args(["--lapse-quantile", "0.5", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(v["threshold_days"], 90, "the command line's quantile wins");
    let m = tmp("m-cfg.json");
    let out = winback().args(["--config", c, "fit"]).args(retail()).args(["--model", m.to_str().unwrap(), "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let model: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    assert_eq!(model["config"]["lapse"]["days"], 90);
    assert_eq!(model["segmentation"]["groups"].as_array().unwrap().len(), 4);
    let out = winback().args(["--config", c, "plan", "--model", m.to_str().unwrap()]).args(retail()).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["contacts"], 50, "a budget of 100 at 2 per contact");
    // Mistakes name the file.
    std::fs::write(&cfg, "[fitt]\ngroups = 4\n").unwrap();
    winback().args(["--config", c, "fit"]).args(retail()).assert().code(2).stderr(predicate::str::diff(format!("winback: {c}: [fitt] is not a winback subcommand\n")));
    std::fs::write(&cfg, "groups = \"many\"\n").unwrap();
    winback().args(["--config", c, "fit"]).args(retail()).assert().code(2).stderr(predicate::str::contains(format!("(the command line included the flags of {c})")));
}

#[test]
fn exit_codes_and_messages() {
    let fixture = root().join("crates/winback-core/tests/fixtures/bad.csv");
    // 2: bad usage (missing flag, bad value, bad date).
    winback().args(["lapse", "--transactions", "x.csv"]).assert().code(2).stderr(predicate::str::contains("--at <AT>"));
    winback().arg("lapse").args(retail()).args(["--lapse-quantile", "1.5"]).assert().code(2).stderr(predicate::str::contains("lapse quantile must be in (0, 1), got 1.5"));
    winback().arg("lapse").args(["--transactions", "x.csv", "--at", "2011-13-01"]).assert().code(2).stderr(predicate::str::contains("--at \"2011-13-01\" is not a date"));
    // Held-out customers: 0 by default, 0.3 on request (stored in the model), 0.95 refused.
    let held = tmp("held.json");
    winback().arg("fit").args(retail()).args(["--honest-fraction", "0.95", "--model", held.to_str().unwrap()]).assert().code(2).stderr(predicate::str::contains("honest fraction must be in [0, 0.9], got 0.95"));
    winback().arg("fit").args(retail()).args(["--honest-fraction", "0.3", "--model", held.to_str().unwrap()]).assert().success();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&held).unwrap()).unwrap();
    assert_eq!(v["config"]["segmenter"]["honest_fraction"], 0.3, "{}", v["config"]["segmenter"]);
    assert_eq!(v["config"]["split_on"], "outcomes");
    // What chooses the splits: stored in the model; an unknown value is a usage error.
    winback().arg("fit").args(retail()).args(["--split-on", "smoothed", "--model", held.to_str().unwrap()]).assert().success();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&held).unwrap()).unwrap();
    assert_eq!(v["config"]["split_on"], "smoothed");
    winback().arg("fit").args(retail()).args(["--split-on", "tea", "--model", held.to_str().unwrap()]).assert().code(2).stderr(predicate::str::contains("invalid value 'tea' for '--split-on"));
    // What orders the groups: smoothed by default, observed on request; stored in the model.
    assert_eq!(v["config"]["group_order"], "smoothed");
    assert!(v["segmentation"]["groups"][0]["order_score"].is_f64());
    winback().arg("fit").args(retail()).args(["--group-order", "observed", "--model", held.to_str().unwrap()]).assert().success();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&held).unwrap()).unwrap();
    assert_eq!(v["config"]["group_order"], "observed");
    assert!(v["segmentation"]["groups"][0].get("order_score").is_none());
    winback().arg("fit").args(retail()).args(["--group-order", "random", "--model", held.to_str().unwrap()]).assert().code(2).stderr(predicate::str::contains("invalid value 'random' for '--group-order"));
    // 1: bad data, naming file, line, column and value.
    winback()
        .args(["lapse", "--transactions", fixture.to_str().unwrap(), "--quantity-col", "quantity", "--at", "2024-06-01", "--strict", "-q"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.csv, line 3, column `customer_id`: missing customer id"));
    winback().args(["lapse", "--transactions", "/nonexistent/t.csv", "--at", "2024-06-01", "-q"]).assert().code(1).stderr(predicate::str::contains("cannot read /nonexistent/t.csv"));
    winback()
        .args(["lapse", "--transactions", fixture.to_str().unwrap(), "--date-col", "when", "--at", "2024-06-01", "-q"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("column `when` not found (available: customer_id, date, amount, quantity)"));
    // A model file of another version: exit 1, clear message; never a panic.
    let m = tmp("v2.json");
    std::fs::write(&m, "{\"format_version\": 1}").unwrap();
    winback()
        .arg("score")
        .args(["--model", m.to_str().unwrap()])
        .args(retail())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("model file format version 1 is not supported"))
        .stderr(predicate::str::contains("panicked").not());
    // Counted bad rows go to the load report on stderr.
    winback()
        .args(["lapse", "--transactions", fixture.to_str().unwrap(), "--quantity-col", "quantity", "--at", "2024-06-01", "--lapse-days", "10"])
        .assert()
        .success()
        .stderr(predicate::str::contains("missing customer id"));
}

#[test]
fn stdin_transactions() {
    let csv = "customer_id,date,amount\na,2024-01-01,10\na,2024-02-01,10\nb,2024-03-01,5\n";
    winback().args(["lapse", "--transactions", "-", "--at", "2024-06-01", "--lapse-days", "60", "-q"]).write_stdin(csv).assert().success().stdout(predicate::str::contains("2 of 2 customers with history are lapsed"));
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|b| {
        let out = Command::new("which").arg(b).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string()))
    })
}

fn browser(bin: &Path, args: &[&str]) -> std::process::Output {
    // A profile folder per call: tests run in parallel, and a second Chromium on a
    // profile in use can refuse it and print an empty page.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let profile = tmp(&format!("chrome-profile-{}", CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

/// The report is one self-contained file whose charts render in a real browser.
/// `WINBACK_REQUIRE_BROWSER=1` (set by scripts/test.sh, which installs Chromium) makes a
/// missing browser a failure instead of a skip.
#[test]
fn report_renders_in_headless_chromium() {
    let m = model("m-report.json");
    let html = tmp("report.html");
    winback()
        .arg("report")
        .args(["--model", m.to_str().unwrap()])
        .args(retail())
        .args(["--objective", "profit", "--cost-per-contact", "2", "--margin", "0.3", "--target-winbacks", "150", "--cutoffs", "2011-10-01", "-o", html.to_str().unwrap()])
        .assert()
        .success();
    let text = std::fs::read_to_string(&html).unwrap();
    // `-o -` writes the same page to standard output (it wrote a file named `-`).
    let piped = winback()
        .arg("report")
        .args(["--model", m.to_str().unwrap()])
        .args(retail())
        .args(["--objective", "profit", "--cost-per-contact", "2", "--margin", "0.3", "--target-winbacks", "150", "--cutoffs", "2011-10-01", "-o", "-"])
        .assert()
        .success();
    assert_eq!(String::from_utf8(piped.get_output().stdout.clone()).unwrap(), text);
    assert!(!std::path::Path::new("-").exists());
    assert!(!text.contains("http://") && !text.contains("https://"), "the report must not load anything");
    assert!(!text.contains("<script src") && !text.contains("<link"), "no external scripts or styles");
    assert_eq!(text.matches("<svg class=\"chart\"").count(), 3);
    // A briefing per group: its profile section, with the suggested channel line
    // (this data has no channel column, and the report says so), and the stop point.
    let model: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    let groups = model["segmentation"]["groups"].as_array().map_or(0, |g| g.len());
    assert!(groups >= 8, "{groups} groups");
    for g in 1..=groups {
        let at = text.find(&format!("id=\"profile-{g}\"")).unwrap_or_else(|| panic!("no profile section for group {g}"));
        let section = &text[at..at + text[at..].find("</div>").unwrap()];
        assert!(section.contains("Suggested channel:") && section.contains("Rule:") && section.contains("bought on one day only"), "{section}");
    }
    assert!(text.contains("no channel column in the data"));
    assert!(text.contains("id=\"stop\"") && text.contains("saved"));
    assert!(text.matches("class=\"tick\"").count() >= 10, "the gains chart has ticks on both axes");
    let Some(bin) = chromium() else {
        assert!(std::env::var_os("WINBACK_REQUIRE_BROWSER").is_none(), "Chromium is required (scripts/test.sh installs it)");
        eprintln!("skipping the browser part: no Chromium");
        return;
    };
    let url = format!("file://{}", html.display());
    let dom = browser(&bin, &["--virtual-time-budget=3000", "--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("data-charts-rendered=\"3\""), "charts did not render: {}", &dom[..dom.len().min(400)]);
    for id in ["gaps", "gains", "calibration"] {
        let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
        let tag = &dom[dom[..at].rfind('<').unwrap_or(0)..at + dom[at..].find('>').unwrap_or(0)];
        assert!(!tag.contains("data-rendered-width=\"0\"") && tag.contains("data-rendered-width"), "{id}: {tag}");
        assert!(!tag.contains("data-shapes=\"0\""), "{id} has no shapes: {tag}");
    }
    // Keep a screenshot as a test artifact (target/test-artifacts/report.png).
    let shots = root().join("target/test-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("report.png");
    let _ = std::fs::remove_file(&png);
    browser(&bin, &["--window-size=1200,1800", &format!("--screenshot={}", png.display()), &url]);
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000, "{} bytes", bytes.len());
}

/// Issue 9, 2.3: a full or closed stdout is an error (exit 1), never a panic.
#[test]
fn a_full_stdout_is_an_error_not_a_panic() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    use assert_cmd::assert::OutputAssertExt;
    Command::new(assert_cmd::cargo::cargo_bin("winback"))
        .arg("lapse")
        .args(retail())
        .stdout(full)
        .output()
        .unwrap()
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot write to stdout"))
        .stderr(predicate::str::contains("panicked").not())
        .stderr(predicate::str::contains("internal error").not());
}

/// Issue 9, 2.13: negative numbers parse, then fail their range check with the flag's rule.
#[test]
fn negative_numbers_reach_the_range_checks() {
    let m = model("neg.json");
    winback()
        .arg("plan")
        .args(["--model", m.to_str().unwrap(), "--cost-per-contact", "1", "--budget", "-1"])
        .args(retail())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("budget must be"));
    winback().arg("fit").args(retail()).args(["--model", tmp("x.json").to_str().unwrap(), "--horizon", "-60"]).assert().code(2).stderr(predicate::str::contains("horizon must be between 1 and 36500 days, got -60"));
    winback()
        .arg("fit")
        .args(retail())
        .args(["--model", tmp("x.json").to_str().unwrap(), "--min-history-days", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("minimum history before a training cutoff must be between 1 and 36500 days, got 0"));
    winback().arg("plan").args(["--model", m.to_str().unwrap(), "--objective", "roi"]).args(retail()).assert().code(2).stderr(predicate::str::contains("objective `roi` needs a cost per contact above 0"));
}

/// Settings out of range are refused before the transactions are read: a
/// missing file would otherwise be the error (exit 1), after a long load on a big one.
#[test]
fn bad_settings_are_refused_before_the_load() {
    let missing = tmp("no-such-file.csv");
    let m = tmp("never-written.json");
    for (cmd, flags, says) in [
        ("lapse", vec!["--lapse-days", "0"], "between 1 and 36500 days, got 0"),
        ("features", vec!["--lapse-quantile", "1.5"], "1.5"),
        ("fit", vec!["--lapse-days", "0", "--model", m.to_str().unwrap()], "between 1 and 36500 days, got 0"),
        ("fit", vec!["--groups", "0", "--model", m.to_str().unwrap()], "groups"),
        ("backtest", vec!["--horizon", "0"], "horizon must be between 1 and 36500 days, got 0"),
    ] {
        winback()
            .arg(cmd)
            .args(["--transactions", missing.to_str().unwrap(), "--at", "2011-12-10"])
            .args(&flags)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says))
            .stderr(predicate::str::contains("cannot").not());
    }
    assert!(!m.exists());
}

/// `--delimiter tab` and `--delimiter '\t'` read a tab-separated file; a longer
/// value is refused with what is accepted.
#[test]
fn a_tab_delimiter_can_be_typed() {
    let f = tmp("tabs.tsv");
    std::fs::write(&f, "customer_id\tdate\tamount\na\t2024-01-05\t20\nb\t2024-02-01\t7.5\na\t2024-03-01\t3\n").unwrap();
    for d in ["tab", "\\t", "\t"] {
        winback()
            .args(["lapse", "--transactions", f.to_str().unwrap(), "--at", "2024-06-01", "--lapse-days", "30", "--json", "--delimiter", d])
            .assert()
            .success()
            .stdout(predicate::str::contains("\"customers_with_history\": 2"));
    }
    winback()
        .args(["lapse", "--transactions", f.to_str().unwrap(), "--at", "2024-06-01", "--delimiter", ";;"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not one ASCII character (a tab: `tab` or `\\t`)"));
}

/// Issue 14, 3: the minimum history is a flag; fit says which cutoffs it used.
#[test]
fn min_history_days_is_a_flag() {
    let m = tmp("short.json");
    let out = winback().arg("fit").args(retail()).args(["--model", m.to_str().unwrap(), "--min-history-days", "30", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["training_cutoffs"], serde_json::json!(["2011-10-11", "2011-08-12", "2011-06-13"]));
    assert_eq!((v["split_on"].as_str(), v["group_order"].as_str()), (Some("outcomes"), Some("smoothed")));
    let model: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    assert_eq!(model["config"]["min_history_days"], 30);
}

/// Issue 9, 2.4 through the CLI: the same outcomes file twice is refused and the model file is untouched.
#[test]
fn feedback_twice_is_refused() {
    let m = model("twice.json");
    let outcomes = tmp("twice.csv");
    std::fs::write(&outcomes, "group,contacted,came_back\n1,20,5\n").unwrap();
    let run = || winback().arg("feedback").args(["--model", m.to_str().unwrap(), "--outcomes", outcomes.to_str().unwrap()]).args(retail()).assert();
    run().success();
    let once = std::fs::read_to_string(&m).unwrap();
    run().code(1).stderr(predicate::str::contains("twice.csv: these outcomes were already recorded into the model (wave 1)"));
    assert_eq!(std::fs::read_to_string(&m).unwrap(), once);
}

/// A contact list that cannot be written leaves the model file as it was (the wave
/// was recorded and the re-run refused), and `plan` then lists only who is left.
#[test]
fn feedback_records_the_wave_only_when_the_contact_list_is_written() {
    let m = model("atomic.json");
    let before = std::fs::read_to_string(&m).unwrap();
    let outcomes = tmp("atomic.csv");
    std::fs::write(&outcomes, "group,contacted,came_back\n1,20,5\n").unwrap();
    let run = |out: &str| winback().arg("feedback").args(["--model", m.to_str().unwrap(), "--outcomes", outcomes.to_str().unwrap(), "-o", out]).args(retail()).assert();
    run("/nonexistent-dir/contacts.csv").code(1).stderr(predicate::str::contains("/nonexistent-dir/contacts.csv"));
    assert_eq!(std::fs::read_to_string(&m).unwrap(), before);
    let contacts = tmp("atomic-contacts.csv");
    run(contacts.to_str().unwrap()).success();
    assert_ne!(std::fs::read_to_string(&m).unwrap(), before);
    let left = std::fs::read_to_string(&contacts).unwrap().lines().count();
    let planned = tmp("atomic-plan.csv");
    winback().arg("plan").args(["--model", m.to_str().unwrap(), "-o", planned.to_str().unwrap()]).args(retail()).assert().success();
    assert_eq!(std::fs::read_to_string(&planned).unwrap().lines().count(), left);
}

/// Issue 14, 1: scoring says each group's share of the scored list next to its share at the fitting date.
#[test]
fn score_shows_group_shares() {
    let m = model("shares.json");
    let args: Vec<String> = retail().into_iter().filter(|a| a != "--quiet").collect();
    winback()
        .arg("score")
        .args(["--model", m.to_str().unwrap(), "-o", tmp("shares.csv").to_str().unwrap()])
        .args(args)
        .assert()
        .success()
        .stderr(predicate::str::contains("group shares of the 1297 lapsed customers at 2011-12-10 (at the fitting date 2011-12-10): 1: "));
}

/// Issue 13: `winback profile` prints a summary per group, writes the JSON form
/// with the names, and a CSV with one row per group and one for everyone.
#[test]
fn profile_prints_writes_json_and_csv() {
    let m = model("m-profile.json");
    let out = winback().arg("profile").args(["--model", m.to_str().unwrap()]).args(retail()).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("group 1 — ") && text.contains("rule: ") && text.contains("one-time buyers") && text.contains("all — "), "{text}");
    let json = tmp("profiles.json");
    winback().arg("profile").args(["--model", m.to_str().unwrap()]).args(retail()).args(["-o", json.to_str().unwrap()]).assert().success();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let g = &v["groups"][0];
    for key in ["group", "size", "share", "recency_days", "purchases", "tenure_days", "spend_total", "one_time_share", "suggested_channel", "top_categories", "main_regions", "description"] {
        assert!(g.get(key).is_some(), "no {key} in {g}");
    }
    assert!(g["suggested_channel"].is_null(), "no channel column: null");
    assert!(g["recency_days"]["median"].is_number() && g["recency_days"]["q25"].is_number());
    let sizes: u64 = v["groups"].as_array().unwrap().iter().map(|g| g["size"].as_u64().unwrap()).sum();
    assert_eq!(sizes, v["all"]["size"].as_u64().unwrap());
    let csv = tmp("profiles.csv");
    winback().arg("profile").args(["--model", m.to_str().unwrap()]).args(retail()).args(["-o", csv.to_str().unwrap()]).assert().success();
    let rows = std::fs::read_to_string(&csv).unwrap();
    let n = v["groups"].as_array().unwrap().len();
    assert_eq!(rows.lines().count(), n + 2, "header, one row per group, one for all");
    assert!(rows.lines().next().unwrap().starts_with("group,size,share,recency_days_q25,recency_days_median"));
    assert!(rows.lines().last().unwrap().starts_with("all,"));
}

/// Issue 12, 1: `--control-share` lists a held-out control arm that costs nothing.
#[test]
fn plan_with_a_control_group() {
    let m = model("m-control.json");
    let out = tmp("contacts-control.csv");
    let run = || {
        winback()
            .arg("plan")
            .args(["--model", m.to_str().unwrap()])
            .args(retail())
            .args(["--objective", "profit", "--cost-per-contact", "2", "--margin", "0.3", "--control-share", "0.2", "--json", "-o", out.to_str().unwrap()])
            .assert()
            .success()
    };
    let summary: serde_json::Value = serde_json::from_slice(&run().get_output().stdout).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.splitn(3, ',').collect()).collect();
    let contact = rows.iter().filter(|r| r[1] == "contact").count();
    let control = rows.iter().filter(|r| r[1] == "control").count();
    assert_eq!(summary["contacts"].as_u64().unwrap() as usize, contact);
    assert!(control > 0 && (control as f64 / (contact + control) as f64 - 0.2).abs() < 0.05, "{control} of {}", contact + control);
    assert!(rows.iter().filter(|r| r[1] == "control").all(|r| r[0].is_empty()));
    let ranks: Vec<usize> = rows.iter().filter(|r| r[1] == "contact").map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(ranks, (1..=contact).collect::<Vec<_>>());
    // The same split on a re-run.
    run();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    winback().arg("plan").args(["--model", m.to_str().unwrap()]).args(retail()).args(["--control-share", "0.95"]).assert().code(2);
}

#[test]
fn feedback_with_a_control_group_and_the_campaign() {
    let m = model("m-arms.json");
    let contacts = tmp("contacts-arms.csv");
    winback()
        .arg("plan")
        .args(["--model", m.to_str().unwrap()])
        .args(retail())
        .args(["--control-share", "0.3", "-o", contacts.to_str().unwrap()])
        .assert()
        .success();
    // The contact list becomes the outcome file: every fourth contacted customer came back, every eighth control.
    let text = std::fs::read_to_string(&contacts).unwrap();
    let mut outcomes = String::from("customer_id,arm,came_back\n");
    for (i, line) in text.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let back = if f[1] == "control" { i % 8 == 0 } else { i % 4 == 0 };
        outcomes.push_str(&format!("{},{},{}\n", f[2], f[1], u8::from(back)));
    }
    let file = tmp("outcomes-arms.csv");
    std::fs::write(&file, &outcomes).unwrap();
    let out = winback()
        .arg("feedback")
        .args(["--model", m.to_str().unwrap(), "--outcomes", file.to_str().unwrap(), "--objective", "incremental", "--json"])
        .args(retail())
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["wave"], 1);
    let groups = v["groups"].as_array().unwrap();
    assert!(!groups.is_empty());
    for g in groups {
        for k in ["group", "contacted", "contacted_came_back", "control", "control_came_back", "effect", "effect_low", "effect_high"] {
            assert!(!g[k].is_null(), "{k} missing in {g}");
        }
        assert!(g["effect_low"].as_f64().unwrap() <= g["effect_high"].as_f64().unwrap());
    }
    let control: u64 = groups.iter().map(|g| g["control"].as_u64().unwrap()).sum();
    assert_eq!(control as usize, text.lines().filter(|l| l.contains(",control,")).count());
    // The campaign prints the wave, and as JSON its figures.
    winback()
        .arg("campaign")
        .args(["--model", m.to_str().unwrap(), "--cost-per-contact", "2"])
        .assert()
        .success()
        .stdout(predicates::str::contains("win-backs caused"))
        .stdout(predicates::str::contains("   1 | "));
    winback().arg("campaign").args(["--model", m.to_str().unwrap(), "--cost-per-contact", "-1"]).assert().code(2).stderr(predicates::str::contains("--cost-per-contact"));
    let out = winback().arg("campaign").args(["--model", m.to_str().unwrap(), "--json"]).assert().success();
    let c: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(c["waves"][0]["control"].as_u64().unwrap(), control);
    // The same outcomes again are refused.
    winback()
        .arg("feedback")
        .args(["--model", m.to_str().unwrap(), "--outcomes", file.to_str().unwrap()])
        .args(retail())
        .assert()
        .failure()
        .stderr(predicates::str::contains("already recorded"));
    // Uplift groups on the wave itself: its outcome file, winback's features at the wave's date as traits.
    let out = winback()
        .args(["uplift", "--table", file.to_str().unwrap(), "--groups", "4", "--json"])
        .args(retail())
        .assert()
        .success();
    let u: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(u["report"]["rows"].as_u64().unwrap() as usize, outcomes.lines().count() - 1);
    assert_eq!(u["report"]["control"].as_u64().unwrap(), control);
    let rules: Vec<&str> = u["groups"].as_array().unwrap().iter().map(|g| g["sentence"].as_str().unwrap()).collect();
    assert!(rules.len() >= 2, "{rules:?}");
    winback().args(["uplift", "--table", file.to_str().unwrap(), "--transactions", "x.csv"]).assert().code(2);
    // The report evaluates such a model on an outcome table too (it has no features of
    // its own: the report adds the history's, as `uplift` did; it failed on `recency_days`).
    let up_hist = tmp("uplift-history.json");
    winback()
        .args(["uplift", "--table", file.to_str().unwrap(), "--groups", "4", "--save", up_hist.to_str().unwrap(), "-q"])
        .args(retail())
        .assert()
        .success();
    let html_hist = tmp("report-uplift-history.html");
    winback()
        .arg("report")
        .args(["--model", m.to_str().unwrap(), "--uplift", up_hist.to_str().unwrap(), "--uplift-table", file.to_str().unwrap(), "--cutoffs", "2011-10-01"])
        .args(retail())
        .args(["-o", html_hist.to_str().unwrap()])
        .assert()
        .success();
    assert!(std::fs::read_to_string(&html_hist).unwrap().contains("Qini"));
    // Every other command still requires --transactions.
    winback().args(["score", "--model", m.to_str().unwrap(), "--at", "2011-12-10"]).assert().code(2).stderr(predicates::str::contains("--transactions"));
    // The report has a section for the wave (effect per group, with a chart), and uplift
    // groups fitted on half of the Hillstrom experiment with their Qini curve on the other half.
    let up = tmp("uplift.json");
    let hill = |half: &str| root().join(format!("datasets/hillstrom_{half}.csv.gz")).to_str().unwrap().to_string();
    winback()
        .args(["uplift", "--table", &hill("fit"), "--arm-col", "segment", "--treatment", "Womens E-Mail", "--control", "No E-Mail"])
        .args(["--outcome-col", "visit", "--exclude", "conversion,spend", "--save", up.to_str().unwrap(), "--quiet"])
        .assert()
        .success()
        .stdout(predicates::str::contains("effect [90%] (held out)"));
    // The next wave planned on those groups: by the effect, stopping where a contact stops paying.
    let out = winback()
        .args(["uplift", "--model", up.to_str().unwrap(), "--plan", &hill("holdout"), "--cost-per-contact", "0.15", "--value-per-winback", "3", "--json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let contacts = v["plan"]["contacts"].as_u64().unwrap();
    assert!(contacts > 1000 && contacts < 32_000, "{contacts}");
    // One thing on stdout (the contact list and the JSON summary were printed one after
    // the other); a bad --plan table writes nothing (the model file was already replaced).
    winback()
        .args(["uplift", "--model", up.to_str().unwrap(), "--plan", &hill("holdout"), "--value-per-winback", "3", "--contacts", "-", "--json"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("one thing on stdout"));
    let saved = tmp("uplift-not-written.json");
    winback()
        .args(["uplift", "--model", up.to_str().unwrap(), "--plan", "/nonexistent/list.csv", "--save", saved.to_str().unwrap(), "-q"])
        .assert()
        .failure();
    assert!(!saved.exists(), "nothing is written when a later step fails");
    let html = tmp("report-waves.html");
    winback()
        .arg("report")
        .args(["--model", m.to_str().unwrap(), "--uplift", up.to_str().unwrap(), "--uplift-table", &hill("holdout")])
        .args(retail())
        .args(["--cutoffs", "2011-10-01", "-o", html.to_str().unwrap()])
        .assert()
        .success();
    let text = std::fs::read_to_string(&html).unwrap();
    let wave = &text[text.find("id=\"wave-1\"").unwrap()..];
    assert!(wave.contains(&format!("{control} in the control group")), "{}", &wave[..300]);
    assert_eq!(wave[..wave.find("</table>").unwrap()].matches("<tr><td>").count(), groups.len());
    assert!(text.contains("id=\"wave-1-effects\"") && text.contains("id=\"qini\"") && text.contains("id=\"uplift-effects\""));
    assert_eq!(text.matches("<svg class=\"chart\"").count(), 6);
    assert!(text.contains("Qini coefficient 0.0"));
    if let Some(bin) = chromium() {
        let dom = browser(&bin, &["--virtual-time-budget=3000", "--dump-dom", &format!("file://{}", html.display())]);
        assert!(String::from_utf8_lossy(&dom.stdout).contains("data-charts-rendered=\"6\""), "the wave and uplift charts did not render");
    }
}
