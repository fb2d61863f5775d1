//! `winback`: the command-line program for batch scoring jobs.
//!
//! Each subcommand parses its arguments, calls the `winback` facade, and writes
//! files or tables. No modelling happens here. Exit codes: 0 ok, 1 bad data (the
//! message names file, line, column and value), 2 bad usage.

mod config;
mod output;
mod report;
mod timings;

/// The program's allocator. Measured on the 100M-line fit (`benches/fit_large.sh`):
/// glibc kept the loader's freed per-partition buffers in its per-thread arenas
/// (peak 9.12 GB, 46.2 s); mimalloc gives them back and reuses them (7.10 GB, 42.4 s).
/// Built with `no_thp`: with transparent huge pages on `madvise` (this machine's
/// setting) mimalloc asked for them, and the kernel zeroing 2 MB pages took half
/// the CPU time (the 100M fit 68.3 s, 47 s of it in the kernel; without: 48.8 s).
/// The library itself leaves the allocator to the program that links it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (the bindings name no
/// constant for it); checked by its default before it is set.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc v3's default purge delay, in milliseconds.
const MIMALLOC_DEFAULT_PURGE_DELAY: std::ffi::c_long = 1000;
/// The program's purge delay, in milliseconds.
const OUR_PURGE_DELAY: std::ffi::c_long = 100;

/// Freed memory goes back to the system 100 ms after it is freed instead of
/// mimalloc's 1 s. A load frees its line buffers while it builds the history
/// (and the features step frees each block), so with a second's delay the
/// freed and the new were counted together: on the 10M-line time-ordered
/// benchmark `winback features` peaked at 472-505 MB (live memory: 377 MB), and
/// at 400-407 MB with 100 ms, in the same wall time (5 runs each, alternated;
/// 100M lines: 2.82 -> 2.60 GB). A delay of 0 gets the live peak but costs
/// ~25% more time. `MIMALLOC_PURGE_DELAY` in the environment still wins (in
/// any case of letters, as mimalloc reads it), and nothing is set when the
/// option does not read as v3's default (another mimalloc, where 15 may be
/// another option).
#[allow(unsafe_code)]
fn give_memory_back_sooner() {
    if delay_from_environment() {
        return;
    }
    // SAFETY: `mi_option_get` and `mi_option_set` read and write one `long` of
    // mimalloc's option table (any option number below the last is valid; 15
    // is); the table is plain memory, which mimalloc's other threads read when
    // they schedule a purge, so this runs first in `main`, before the program
    // starts any other thread.
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == MIMALLOC_DEFAULT_PURGE_DELAY {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, OUR_PURGE_DELAY);
        }
    }
}

/// Whether the environment names a purge delay for mimalloc (its current or
/// legacy name, in any case of letters, as mimalloc matches them).
fn delay_from_environment() -> bool {
    std::env::vars_os().any(|(k, _)| k.to_str().is_some_and(|k| k.eq_ignore_ascii_case("MIMALLOC_PURGE_DELAY") || k.eq_ignore_ascii_case("MIMALLOC_RESET_DELAY")))
}

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use winback::core::attributes::Attributes;
use winback::core::date::{format_day, parse_iso_date, Day};
use winback::core::lapse::LapseRule;
use winback::core::read::{read_csv_from, ColumnMap, CsvOptions};
use winback::core::{History, LoadOptions, LoadReport};
use winback::rank::{Objective, Plan, PlanParams};
use winback::{Config, GroupOrder, ReportOptions, SplitOn, WinbackModel};


/// Writes a line to stdout: a closed or full stdout is an error (exit 1), never a panic.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*).map_err(|e| crate::stdout_failure(&e, "to stdout"))?;
    }};
}

/// Writes to stdout without a newline (see [`outln`]).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($t)*).map_err(|e| crate::stdout_failure(&e, "to stdout"))?;
    }};
}

/// Which lapsed customers to contact first to win them back, and where to stop.
#[derive(Parser, Debug)]
#[command(name = "winback", version, about, args_override_self = true)]
struct Cli {
    /// A TOML file whose keys are flags of the subcommand (`lapse-days = 90`); flags given on the command line win.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print a machine-readable JSON summary on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Quiet: no progress display and no load report on stderr (warnings, the report's data checks and errors still print).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Print on stderr, when the command ends, each step's wall time and the process's CPU time over it (CPU on Linux), the time outside the steps and the total.
    #[arg(long, global = true)]
    timings: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Recommend the lapse threshold: gap distribution and how many are lapsed under it.
    Lapse(LapseCmd),
    /// The feature table of the lapsed (or all) customers at a date.
    Features(FeaturesCmd),
    /// Train a model standing at a date and write the model file.
    Fit(FitCmd),
    /// Lapsed customers at a date → group and probability.
    Score(ScoreCmd),
    /// The contact plan and contact list under an objective and stopping rules.
    Plan(PlanCmd),
    /// Record a wave's outcomes into the model and print the re-ranked plan for what is left.
    Feedback(FeedbackCmd),
    /// The recorded waves: contacts, controls, win-backs, and the win-backs the contact caused with intervals.
    Campaign(CampaignCmd),
    /// Uplift groups from a past campaign with a control group: who a contact moves, with honest effects.
    Uplift(UpliftCmd),
    /// What each group is like at a date: spend, channels, categories, regions, attributes, suggested channel.
    Profile(ProfileCmd),
    /// Rolling backtest against recency-only and RFM rankings.
    Backtest(BacktestCmd),
    /// One self-contained HTML report: lapse, groups, gains, calibration, plan.
    Report(ReportCmd),
    /// The whole pipeline on the bundled data.
    Demo(DemoCmd),
}

/// Where the purchase history comes from and which column holds what.
#[derive(Args, Debug, Clone)]
struct Input {
    /// Transactions: a CSV (optionally .gz) or Parquet file by extension, a directory of
    /// Parquet files (`part-*.parquet`, hive-style `date=2023-01-01/` folders; every file
    /// but `_`/`.` names must be Parquet), a glob (`'logs/*.parquet'`), or `-` for CSV on stdin.
    // An `Option` only so that `winback uplift` can make it optional; every other command requires it.
    #[arg(long, required = true)]
    transactions: Option<PathBuf>,
    /// Customer id column.
    #[arg(long, default_value = "customer_id")]
    customer_col: String,
    /// Date or timestamp column.
    #[arg(long, default_value = "date")]
    date_col: String,
    /// Amount column (negative = return).
    #[arg(long, default_value = "amount")]
    amount_col: String,
    /// Quantity column.
    #[arg(long)]
    quantity_col: Option<String>,
    /// Order id column (lines of one order are one purchase).
    #[arg(long)]
    order_col: Option<String>,
    /// Sales channel column.
    #[arg(long)]
    channel_col: Option<String>,
    /// Category column.
    #[arg(long)]
    category_col: Option<String>,
    /// Store or region column.
    #[arg(long)]
    region_col: Option<String>,
    /// Cancellation flag column.
    #[arg(long)]
    cancel_col: Option<String>,
    /// Customer attribute table (CSV), keyed by `--attributes-key`.
    #[arg(long)]
    attributes: Option<PathBuf>,
    /// Key column of the attribute table.
    #[arg(long, default_value = "customer_id")]
    attributes_key: String,
    /// A strftime date format (`%d/%m/%Y %H:%M`); default: ISO or YYYYMMDD.
    #[arg(long)]
    date_format: Option<String>,
    /// Take purchase days in this IANA time zone (default: as written); values without an offset are read as times of this zone.
    #[arg(long)]
    time_zone: Option<String>,
    /// CSV delimiter: one ASCII character; a tab as `tab` or `\t`.
    #[arg(long, default_value = ",", value_parser = parse_delimiter)]
    delimiter: char,
    /// Refuse any bad row (error with file, line, column, value) instead of counting it.
    #[arg(long)]
    strict: bool,
    /// Skip lines with amount 0 (default: they are purchases with no spend, a visit all the same).
    #[arg(long)]
    skip_zero_amounts: bool,
    /// Skip lines identical to another in every mapped column, as after a file was
    /// loaded twice (default: kept, and counted in the load report: two products of
    /// the same price and quantity on one order look identical when the product
    /// column is not mapped).
    #[arg(long)]
    drop_duplicates: bool,
}

#[derive(Args, Debug, Clone)]
struct Standing {
    /// The date we stand at (YYYY-MM-DD): only history strictly before it is used.
    #[arg(long)]
    at: String,
}

#[derive(Args, Debug, Clone)]
struct LapseOpts {
    /// Fixed lapse threshold in days.
    #[arg(long, allow_negative_numbers = true, conflicts_with = "lapse_quantile")]
    lapse_days: Option<i64>,
    /// Learn the threshold as this quantile of purchase gaps (default 0.9).
    #[arg(long, allow_negative_numbers = true)]
    lapse_quantile: Option<f64>,
}

#[derive(Args, Debug, Clone)]
struct ModelOpts {
    /// Days after the cutoff in which a purchase counts as a win-back.
    #[arg(long, allow_negative_numbers = true, default_value_t = 60)]
    horizon: i64,
    /// Target number of groups.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10)]
    groups: usize,
    /// Number of stacked training cutoffs (at − H, at − 2H, …).
    #[arg(long, allow_negative_numbers = true, default_value_t = 3)]
    training_cutoffs: usize,
    /// Minimum days of data before a training cutoff (default: twice the smaller of the horizon and the lapse threshold, within 28–90).
    #[arg(long, allow_negative_numbers = true)]
    min_history_days: Option<i64>,
    /// Seed (of the held-out draw and of the row sample of splits over 100,000 rows).
    #[arg(long, allow_negative_numbers = true, default_value_t = 42)]
    seed: u64,
    /// Share of customers held out to estimate the groups' probabilities, 0 to 0.9 (default 0: every training row chooses the splits and estimates the probabilities).
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0)]
    honest_fraction: f64,
    /// What chooses the groups' splits: the training outcomes, or a smoothed chance (a logistic regression on log recency and the BG/NBD chance; see the README, "Accuracy").
    #[arg(long, value_enum, default_value_t = SplitOnArg::Outcomes)]
    split_on: SplitOnArg,
    /// What numbers the groups and orders the plan: a smoothed chance (a logistic regression on log recency, purchases, spend, tenure and the BG/NBD chance; adjacent groups whose outcomes go against it share one probability), or each group's own probability.
    #[arg(long, value_enum, default_value_t = GroupOrderArg::Smoothed)]
    group_order: GroupOrderArg,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum SplitOnArg {
    Outcomes,
    Smoothed,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum GroupOrderArg {
    Smoothed,
    Observed,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ObjectiveArg {
    Probability,
    Profit,
    Roi,
    /// Win-backs caused (contact rate − control rate), measured on recorded waves with a control group.
    Incremental,
}

#[derive(Args, Debug, Clone)]
struct PlanOpts {
    /// Order groups by this.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Probability)]
    objective: ObjectiveArg,
    /// Cost of one contact.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0)]
    cost_per_contact: f64,
    /// Margin on the spend of a returning customer (0–1].
    #[arg(long, allow_negative_numbers = true, default_value_t = 1.0)]
    margin: f64,
    /// Value of a win-back (instead of the group's return spend × margin).
    #[arg(long, allow_negative_numbers = true)]
    value_per_winback: Option<f64>,
    /// Stop before the cost exceeds this.
    #[arg(long, allow_negative_numbers = true)]
    budget: Option<f64>,
    /// Stop once expected win-backs reach this.
    #[arg(long, allow_negative_numbers = true)]
    target_winbacks: Option<f64>,
    /// Stop at this many contacts.
    #[arg(long, allow_negative_numbers = true)]
    max_contacts: Option<usize>,
    /// Leave out groups below this probability.
    #[arg(long, allow_negative_numbers = true)]
    min_probability: Option<f64>,
    /// Keep money-losing groups.
    #[arg(long)]
    include_unprofitable: bool,
    /// Share of every contacted group held out as an uncontacted control (0–0.9),
    /// drawn from a seeded hash of the customer id: listed with arm `control`.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0)]
    control_share: f64,
    /// With `--objective incremental`: leave out groups whose effect interval lies wholly below this (default 0).
    #[arg(long, allow_negative_numbers = true)]
    min_effect: Option<f64>,
}

#[derive(Args, Debug)]
struct LapseCmd {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    #[command(flatten)]
    lapse: LapseOpts,
}

#[derive(Args, Debug)]
struct FeaturesCmd {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    #[command(flatten)]
    lapse: LapseOpts,
    /// Every customer with a purchase before the date, not only the lapsed.
    #[arg(long)]
    all: bool,
    /// Output file: CSV, gzip-compressed CSV (`.gz`) or Parquet (`.parquet`) by extension; `-` for stdout (CSV).
    #[arg(short, long, default_value = "-")]
    output: String,
}

#[derive(Args, Debug)]
struct FitCmd {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    #[command(flatten)]
    lapse: LapseOpts,
    #[command(flatten)]
    model_opts: ModelOpts,
    /// Model file to write (JSON).
    #[arg(long)]
    model: PathBuf,
}

#[derive(Args, Debug)]
struct ScoreCmd {
    /// Model file.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    /// Output file: CSV, gzip-compressed CSV (`.gz`) or Parquet (`.parquet`) by extension; `-` for stdout (CSV).
    #[arg(short, long, default_value = "-")]
    output: String,
}

#[derive(Args, Debug)]
struct ProfileCmd {
    /// Model file.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    /// Output: `-` prints a summary per group; `*.json` the full profiles; CSV or Parquet one row per group.
    #[arg(short, long, default_value = "-")]
    output: String,
}

#[derive(Args, Debug)]
struct PlanCmd {
    /// Model file.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    #[command(flatten)]
    plan: PlanOpts,
    /// Contact list file: CSV, gzip-compressed CSV (`.gz`) or Parquet (`.parquet`) by extension; `-` for stdout (CSV).
    #[arg(short, long)]
    output: Option<String>,
}

#[derive(Args, Debug)]
struct FeedbackCmd {
    /// Model file (updated in place unless `--model-out`).
    #[arg(long)]
    model: PathBuf,
    /// Where to write the updated model.
    #[arg(long)]
    model_out: Option<PathBuf>,
    /// Outcomes CSV: `group,contacted,came_back` or `customer_id,contacted,came_back`; with a
    /// control group, `customer_id,arm,came_back` or `group,arm,contacted,came_back` (arm = contact|control).
    #[arg(long)]
    outcomes: PathBuf,
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    #[command(flatten)]
    plan: PlanOpts,
    /// Contact list of what is left (CSV/Parquet); `-` for stdout.
    #[arg(short, long)]
    output: Option<String>,
}

#[derive(Args, Debug)]
struct CampaignCmd {
    /// Model file with recorded waves.
    #[arg(long)]
    model: PathBuf,
    /// Cost of one contact, for the cost per win-back caused.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0)]
    cost_per_contact: f64,
}

#[derive(Args, Debug)]
#[command(mut_arg("transactions", |a| a.required(false)))]
struct UpliftCmd {
    /// Campaign table (CSV, optionally .gz): one row per customer with the arm, the outcome and traits known before the campaign (not needed with `--model`).
    #[arg(long, required_unless_present = "model")]
    table: Option<PathBuf>,
    /// Customer id column.
    #[arg(long, default_value = "customer_id")]
    id_col: String,
    /// Arm column.
    #[arg(long, default_value = "arm")]
    arm_col: String,
    /// Arm value of contacted customers.
    #[arg(long, default_value = "contact")]
    treatment: String,
    /// Arm value of the control group.
    #[arg(long, default_value = "control")]
    control: String,
    /// Outcome column (0/1).
    #[arg(long, default_value = "came_back")]
    outcome_col: String,
    /// Columns that are not traits known before the campaign (other outcomes), comma separated.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Target number of groups.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10)]
    groups: usize,
    /// Smallest group, as a share of the rows.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.02)]
    min_group_share: f64,
    /// Seed (honest split).
    #[arg(long, allow_negative_numbers = true, default_value_t = 42)]
    seed: u64,
    /// Use this uplift model file instead of fitting one (the fit's options are then refused).
    #[arg(long, conflicts_with_all = ["table", "exclude", "groups", "min_group_share", "seed"])]
    model: Option<PathBuf>,
    /// Write the fitted uplift model (JSON) here.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Measure the groups on this campaign table (other customers, same columns): effect per group, Qini coefficient, uplift in the top 30%.
    #[arg(long)]
    evaluate: Option<PathBuf>,
    /// Write the group table here (CSV, Parquet or `-`).
    #[arg(short, long)]
    output: Option<String>,
    /// The campaign's (wave's) date: date traits are measured in days before it, and with `--transactions` winback's features of each customer at it become traits.
    #[arg(long)]
    at: Option<String>,
    /// The purchase history whose features at `--at` are added to the table's traits (optional here).
    #[command(flatten)]
    history: Input,
    /// Plan the next wave on the uplift groups: the customers to contact (a table with the traits; arm and outcome not needed). Ordered by the effect of contact (`--objective` is always incremental here).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Where to write the contact list of `--plan` (CSV, Parquet or `-`).
    #[arg(long, requires = "plan")]
    contacts: Option<String>,
    #[command(flatten)]
    plan_opts: PlanOpts,
}

#[derive(Args, Debug)]
struct BacktestCmd {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    #[command(flatten)]
    lapse: LapseOpts,
    #[command(flatten)]
    model_opts: ModelOpts,
    /// Backtest cutoffs (YYYY-MM-DD, comma separated); default: 3 cutoffs one horizon apart, ending a horizon before `--at`.
    #[arg(long, value_delimiter = ',')]
    cutoffs: Vec<String>,
}

#[derive(Args, Debug)]
struct ReportCmd {
    /// Model file.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    at: Standing,
    #[command(flatten)]
    plan: PlanOpts,
    /// Backtest cutoffs for the calibration chart (comma separated); default: 2 before `--at`.
    #[arg(long, value_delimiter = ',')]
    cutoffs: Vec<String>,
    /// An uplift model file (`winback uplift --save`): adds its groups and their Qini curve, measured on `--uplift-table`.
    #[arg(long, requires = "uplift_table")]
    uplift: Option<PathBuf>,
    /// The campaign table the uplift groups are measured on (customers the uplift fit did not see).
    #[arg(long, requires = "uplift")]
    uplift_table: Option<PathBuf>,
    /// Customer id column of `--uplift-table`.
    #[arg(long, default_value = "customer_id")]
    uplift_id_col: String,
    /// Report file (`-`: standard output).
    #[arg(short, long, default_value = "winback-report.html")]
    output: PathBuf,
}

#[derive(Args, Debug)]
struct DemoCmd {
    /// The datasets folder (default: `./datasets`, else the repository the program was built in).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// A failure with its exit code.
#[derive(Debug)]
enum Failure {
    /// Bad data (exit 1).
    Data(String),
    /// Bad usage (exit 2).
    Usage(String),
    /// Standard output was closed by its reader (`winback score -o - | head`):
    /// stop quietly, with the status of a process ended by SIGPIPE (141), as
    /// `cat` and `grep` do.
    Closed,
}

/// A failure to write to standard output: [`Failure::Closed`] when its reader
/// has gone, else a data failure naming `what`.
fn stdout_failure(e: &std::io::Error, what: &str) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::Closed
    } else {
        Failure::Data(format!("cannot write {what}: {e}"))
    }
}

impl From<winback::Error> for Failure {
    fn from(e: winback::Error) -> Self {
        if e.is_parameter() {
            Failure::Usage(e.to_string())
        } else {
            Failure::Data(e.to_string())
        }
    }
}

impl From<winback::core::Error> for Failure {
    fn from(e: winback::core::Error) -> Self {
        winback::Error::from(e).into()
    }
}

type Res<T> = std::result::Result<T, Failure>;

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

/// `--delimiter`: one ASCII character, or a tab written as `tab` or `\t` (a shell
/// passes a typed `'\t'` as two characters).
fn parse_delimiter(s: &str) -> Result<char, String> {
    match s {
        "tab" | "\\t" => Ok('\t'),
        _ => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => Ok(c),
                _ => Err(format!("{s:?} is not one ASCII character (a tab: `tab` or `\\t`)")),
            }
        }
    }
}

fn io_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::Data(format!("cannot access {}: {e}", path.display()))
}

/// Runs `f` behind a spinner on stderr (hidden when stderr is not a terminal or with --quiet),
/// as one step of `--timings`.
fn step<T>(quiet: bool, msg: &str, f: impl FnOnce() -> T) -> T {
    let pb = if quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message(msg.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    };
    timings::begin(msg);
    let out = f();
    timings::end();
    pb.finish_and_clear();
    out
}

/// A progress bar on stderr for a read: percentage, rate and time left (hidden
/// when stderr is not a terminal or with --quiet).
struct Bar {
    pb: indicatif::ProgressBar,
    /// Shown on stderr (a terminal, not --quiet).
    shown: bool,
}

impl Bar {
    fn new(quiet: bool) -> Bar {
        // Hidden until a step begins: a bar of no length drawn at creation, or
        // while a step's style, length and message are being set, showed a stray
        // "100% 0/0 rows" line.
        Bar { pb: indicatif::ProgressBar::hidden(), shown: !quiet && std::io::stderr().is_terminal() }
    }
}

impl winback::core::progress::Progress for Bar {
    fn begin(&self, step: &str, total: Option<u64>, unit: winback::core::progress::Unit) {
        use winback::core::progress::Unit;
        self.pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        let template = match (total, unit) {
            (Some(_), Unit::Bytes) => "{msg} [{bar:30}] {percent}% {binary_bytes_per_sec} ETA {eta}",
            (Some(_), Unit::Rows) => "{msg} [{bar:30}] {percent}% {human_pos}/{human_len} rows {rows_per_sec} rows/s ETA {eta}",
            (None, _) => "{spinner} {msg} {human_pos} {rows_per_sec}/s",
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            let style = style.with_key("rows_per_sec", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", indicatif::HumanCount(s.per_sec() as u64));
            });
            self.pb.set_style(style.progress_chars("=> "));
        }
        // A bar may carry several steps (a report's scoring, backtest, profiles):
        // each begins afresh, also after the previous one finished.
        timings::begin(step);
        self.pb.reset();
        self.pb.set_length(total.unwrap_or(0));
        self.pb.set_message(step.to_string());
        if self.shown {
            self.pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.pb.enable_steady_tick(Duration::from_millis(200));
        }
    }
    fn advance(&self, n: u64) {
        self.pb.inc(n);
    }
    fn finish(&self) {
        timings::end();
        self.pb.finish_and_clear();
        self.pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
}

fn day(s: &str, flag: &str) -> Res<Day> {
    parse_iso_date(s).ok_or_else(|| usage(format!("{flag} {s:?} is not a date (YYYY-MM-DD)")))
}

impl Input {
    fn map(&self) -> ColumnMap {
        let mut m = ColumnMap::new(&self.customer_col, &self.date_col, &self.amount_col);
        m.quantity = self.quantity_col.clone();
        m.order = self.order_col.clone();
        m.channel = self.channel_col.clone();
        m.category = self.category_col.clone();
        m.region = self.region_col.clone();
        m.cancelled = self.cancel_col.clone();
        if let Some(f) = &self.date_format {
            m = m.date_format(winback::core::date::DateFormat::Custom(f.clone()));
        }
        if let Some(z) = &self.time_zone {
            m = m.time_zone(z);
        }
        m
    }

    fn load(&self, quiet: bool) -> Res<(Loaded, LoadReport)> {
        self.load_before(quiet, None)
    }

    /// [`Input::load`] for a verb that uses nothing dated on or after `only_before`
    /// (`LoadOptions::only_before`: such rows are counted, not stored).
    fn load_before(&self, quiet: bool, only_before: Option<Day>) -> Res<(Loaded, LoadReport)> {
        if !self.delimiter.is_ascii() {
            return Err(usage(format!("--delimiter {:?} must be one ASCII character", self.delimiter)));
        }
        let csv = CsvOptions { delimiter: self.delimiter as u8, has_header: true };
        let opts = LoadOptions { strict: self.strict, skip_zero_amounts: self.skip_zero_amounts, drop_duplicates: self.drop_duplicates, only_before, ..Default::default() };
        let map = self.map();
        let Some(transactions) = &self.transactions else { return Err(usage("--transactions is required")) };
        let (h, report) = if transactions.as_os_str() == "-" {
            step(quiet, "reading transactions", || read_csv_from(std::io::stdin().lock(), "<stdin>", &map, &csv, &opts).map_err(winback::Error::from))?
        } else {
            let bar = Bar::new(quiet);
            winback::read_history_with(transactions, &map, &csv, &opts, &bar)?
        };
        let h = match &self.attributes {
            Some(p) => {
                let a = Attributes::read_csv(p, &self.attributes_key, &csv)?;
                if self.strict {
                    a.report().strict(&p.display().to_string())?;
                }
                let h = h.with_attributes(a);
                if let (false, Some(r)) = (quiet, h.attributes().map(Attributes::report)) {
                    eprintln!(
                        "{}: {} attribute rows read, {} without key, {} duplicate keys (first kept), {} for customers without purchases",
                        p.display(),
                        r.rows_read,
                        r.missing_key,
                        r.duplicate_keys,
                        r.unmatched
                    );
                    if r.malformed > 0 {
                        eprintln!("  skipped {:>10}  rows whose field count differs from the header", r.malformed);
                    }
                    for u in &r.unread {
                        eprintln!("  missing {:>10}  values of `{}` that are not a {} (such as {:?}), among its {}s", u.count, u.column, u.kind, u.example, u.kind);
                    }
                }
                h
            }
            None => h,
        };
        if !quiet {
            eprint!("{report}");
        } else {
            // What looks wrong in the data is said even when the report is not.
            for check in report.checks() {
                eprintln!("{}: check: {check}", report.source);
            }
        }
        output::ids_are_integers(h.ids_are_integers());
        remember_load_report(&report);
        Ok((std::mem::ManuallyDrop::new(h), report))
    }
}

/// A history a verb loads once and uses until the process ends: never freed,
/// since the process exits right after and the system takes its memory back at
/// once. Freeing it piece by piece (an id per customer, the events' columns) took
/// 14–16 ms of `winback features` at 10M lines (medians of 12 alternated runs),
/// about 1.2% of the command.
type Loaded = std::mem::ManuallyDrop<History>;

impl LapseOpts {
    /// The rule, its parameters checked: callers take it before the (long) load, so
    /// that `--lapse-days 0` is refused at once, not after reading the file.
    fn rule(&self) -> Res<LapseRule> {
        let rule = LapseRule::from_options(self.lapse_days, self.lapse_quantile);
        rule.validate()?;
        Ok(rule)
    }

}

impl ModelOpts {
    /// The model's configuration, checked (before the load, as [`LapseOpts::rule`]).
    fn config(&self, lapse: &LapseOpts) -> Res<Config> {
        let config = Config::from_options(lapse.rule()?, self.horizon, self.groups, self.seed, self.training_cutoffs, self.min_history_days).with_honest_fraction(self.honest_fraction).with_split_on(match self.split_on {
            SplitOnArg::Outcomes => SplitOn::Outcomes,
            SplitOnArg::Smoothed => SplitOn::Smoothed,
        })
        .with_group_order(match self.group_order {
            GroupOrderArg::Smoothed => GroupOrder::Smoothed,
            GroupOrderArg::Observed => GroupOrder::Observed,
        });
        config.validate()?;
        Ok(config)
    }

}

impl PlanOpts {
    fn params(&self) -> PlanParams {
        PlanParams {
            objective: match self.objective {
                ObjectiveArg::Probability => Objective::Probability,
                ObjectiveArg::Profit => Objective::Profit,
                ObjectiveArg::Roi => Objective::Roi,
                ObjectiveArg::Incremental => Objective::Incremental,
            },
            cost_per_contact: self.cost_per_contact,
            margin: self.margin,
            value_per_winback: self.value_per_winback,
            budget: self.budget,
            max_contacts: self.max_contacts,
            target_winbacks: self.target_winbacks,
            min_probability: self.min_probability,
            min_expected_profit: None,
            include_unprofitable: self.include_unprofitable,
            control_share: self.control_share,
            control_seed: 0,
            min_effect: self.min_effect,
        }
    }
}

/// Each group's share of the list being scored (with its share at the fitting
/// date) unless quiet; groups above the maximum share: always said, on stderr.
fn warn_shares(m: &WinbackModel, s: &winback::Scores, quiet: bool) {
    if !quiet {
        let shares: Vec<String> = s
            .group_shares
            .iter()
            .zip(&m.segmentation.groups)
            .map(|(x, g)| match g.scoring_share {
                Some(f) => format!("{}: {:.1}% ({:.1}%)", g.id, x * 100.0, f * 100.0),
                None => format!("{}: {:.1}%", g.id, x * 100.0),
            })
            .collect();
        eprintln!("group shares of the {} lapsed customers at {} (at the fitting date {}): {}", s.customers.len(), format_day(s.at), format_day(m.fitted_at), shares.join(", "));
    }
    for w in &s.warnings {
        eprintln!("winback: warning: {w}");
    }
}

fn load_model(path: &Path) -> Res<WinbackModel> {
    Ok(WinbackModel::load(path)?)
}

/// A number of days in words: "1 day", "45 days".
fn days(n: impl Into<i64>) -> String {
    let n = n.into();
    format!("{n} day{}", if n == 1 { "" } else { "s" })
}

/// The load report of the history this run read, for `--json` summaries.
static LOAD_REPORT: std::sync::Mutex<Option<serde_json::Value>> = std::sync::Mutex::new(None);

/// Keeps `report` (its fields as the Python package gives them, and its `checks`)
/// for the `--json` summary: a batch job reads the rows read, used and skipped, the
/// files and the checks from stdout instead of parsing stderr.
fn remember_load_report(report: &LoadReport) {
    let mut v = serde_json::to_value(report).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("checks".into(), report.checks().into_iter().map(serde_json::Value::from).collect());
    }
    if let Ok(mut slot) = LOAD_REPORT.lock() {
        *slot = Some(v);
    }
}

/// Prints a `--json` summary, with the load report as `load_report` when the
/// command read a history.
fn print_json(v: &serde_json::Value) -> Res<()> {
    let mut v = v.clone();
    if let (Some(o), Some(report)) = (v.as_object_mut(), LOAD_REPORT.lock().ok().and_then(|r| r.clone())) {
        o.entry("load_report").or_insert(report);
    }
    outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

fn cmd_lapse(c: &LapseCmd, cli: &Cli) -> Res<()> {
    let at = day(&c.at.at, "--at")?;
    let rule = c.lapse.rule()?;
    // The threshold and who is lapsed at a cutoff use nothing dated on or after it.
    let (h, _) = c.input.load_before(cli.quiet, Some(at))?;
    let l = winback::lapse(&h, at, &rule)?;
    if cli.json {
        print_json(&serde_json::json!({
            "at": format_day(at),
            "threshold_days": l.threshold_days,
            "customers_with_history": l.customers_with_history,
            "lapsed": l.lapsed.len(),
            "gaps": l.gaps.as_ref().map(|g| serde_json::json!({"count": g.count, "mean": g.mean, "quantiles": g.quantiles})),
        }))?;
        return Ok(());
    }
    outln!("standing at {}: lapse threshold {}", format_day(at), days(l.threshold_days));
    if let Some(g) = &l.gaps {
        outln!("gaps between purchase days: {} gaps, mean {:.1} days", g.count, g.mean);
        for (q, v) in &g.quantiles {
            outln!("  q{q:<5} {v:>8.1} days");
        }
    }
    outln!("{} of {} customers with history are lapsed", l.lapsed.len(), l.customers_with_history);
    Ok(())
}

/// `--json` and a table on stdout (`-o -`) cannot share it: refused before any
/// work, instead of the JSON summary being dropped without a word.
fn one_thing_on_stdout(cli: &Cli, output: Option<&str>) -> Res<()> {
    if cli.json && output == Some("-") {
        return Err(usage("--json prints a summary on stdout, where the table goes without -o FILE (the default, `-o -`): write the table to a file with -o FILE, or leave --json out"));
    }
    Ok(())
}

fn cmd_features(c: &FeaturesCmd, cli: &Cli) -> Res<()> {
    one_thing_on_stdout(cli, Some(&c.output))?;
    let at = day(&c.at.at, "--at")?;
    let rule = c.lapse.rule()?;
    // Features at a cutoff use nothing dated on or after it.
    let (h, _) = c.input.load_before(cli.quiet, Some(at))?;
    let who = if c.all { winback::Who::All } else { winback::Who::Lapsed };
    let blocks = step(cli.quiet, "learning the features", || winback::feature_blocks(&h, at, &rule, who, &Default::default()))?;
    // Each block of rows is built, turned into a table (whose columns are slices
    // of the block's matrix) and written before the next: the whole matrix is
    // never in memory (1.4 GB at 3.6M customers).
    let columns = 1 + blocks.schema().features.len();
    let bar = Bar::new(cli.quiet);
    winback::core::progress::Progress::begin(&bar, "building and writing features", Some(blocks.rows() as u64), winback::core::progress::Unit::Rows);
    // The next block is built (on every core) while this one is encoded and written.
    let written = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Res<arrow_array::RecordBatch>>(1);
        let (h, bar) = (&h, &bar);
        let builder = scope.spawn(move || {
            for x in blocks {
                let table = x.map_err(Failure::from).and_then(|x| {
                    winback::core::progress::Progress::advance(bar, x.customers.len() as u64);
                    Ok(winback::features_table(h, x)?)
                });
                // The writer stopped (an error): nothing more to build.
                if tx.send(table).is_err() {
                    break;
                }
            }
        });
        let staged = output::stage_batches(rx.into_iter(), &c.output);
        // The channel also ends when the builder panics: the table is put in place
        // only once the builder has finished (else the temporary file is removed
        // as the panic goes on).
        match builder.join() {
            Ok(()) => staged.and_then(|(staged, rows)| staged.commit().map(|()| rows)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    winback::core::progress::Progress::finish(&bar);
    let rows = written?;
    if cli.json && c.output != "-" {
        print_json(&serde_json::json!({"rows": rows, "columns": columns, "output": c.output}))?;
    }
    Ok(())
}

fn group_table(m: &WinbackModel) -> String {
    let mut s = format!("{:>5} {:>8} {:>6} {:>24} {:>6}  rule\n", "group", "size", "share", format!("probability [{}]", report::level_pct(m.segmentation.params.interval_level())), "pooled");
    for g in &m.segmentation.groups {
        let pooled = g.pooled_run().unwrap_or_default();
        s.push_str(&format!("{:>5} {:>8} {:>5.1}% {:>8.3} [{:.3}, {:.3}] {pooled:>6}  {}\n", g.id, g.size, g.share * 100.0, g.probability, g.low, g.high, g.sentence));
    }
    if m.segmentation.groups.iter().any(|g| !g.pooled.is_empty()) {
        s.push_str("pooled: groups are numbered by a smooth chance of coming back; a run whose own rates went against that order was fitted one shared probability (--group-order observed: each its own; recorded waves update each group's own)\n");
    }
    if let Some(n) = &m.segmentation.note {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}

fn cmd_fit(c: &FitCmd, cli: &Cli) -> Res<()> {
    let at = day(&c.at.at, "--at")?;
    let config = c.model_opts.config(&c.lapse)?;
    let (h, _) = c.input.load(cli.quiet)?;
    let m = step(cli.quiet, "fitting", || WinbackModel::fit(&h, at, &config))?;
    m.save(&c.model)?;
    if cli.json {
        print_json(&serde_json::json!({
            "model": c.model.display().to_string(), "lapse_days": m.lapse_days, "training_cutoffs": m.training_cutoffs.iter().map(|d| format_day(*d)).collect::<Vec<_>>(),
            "skipped_cutoffs": m.skipped_cutoffs.iter().map(|s| serde_json::json!({"cutoff": format_day(s.cutoff), "reason": s.reason})).collect::<Vec<_>>(),
            "training_rows": m.training_rows, "base_rate": m.segmentation.base_rate, "split_on": m.config.split_on, "group_order": m.config.group_order,
            "groups": m.segmentation.groups, "note": m.segmentation.note,
        }))?;
    } else {
        let cutoffs = m.training_cutoffs.iter().map(|d| format_day(*d)).collect::<Vec<_>>().join(", ");
        outln!("fitted standing at {}: lapse threshold {}, {} training rows from cutoffs {cutoffs} -> {}", format_day(at), days(m.lapse_days), m.training_rows, c.model.display());
        for s in &m.skipped_cutoffs {
            outln!("cutoff {} not used: {}", format_day(s.cutoff), s.reason);
        }
        out!("{}", group_table(&m));
    }
    Ok(())
}

fn cmd_score(c: &ScoreCmd, cli: &Cli) -> Res<()> {
    one_thing_on_stdout(cli, Some(&c.output))?;
    let m = load_model(&c.model)?;
    let at = day(&c.at.at, "--at")?;
    let (h, _) = c.input.load(cli.quiet)?;
    let s = step(cli.quiet, "scoring", || m.score(&h, at))?;
    warn_shares(&m, &s, cli.quiet);
    output::write(&winback::scores_table(&m, &s)?, &c.output)?;
    if cli.json && c.output != "-" {
        print_json(&serde_json::json!({"at": format_day(at), "lapse_days": m.lapse_days, "scored": s.customers.len(), "output": c.output}))?;
    } else if !cli.quiet {
        eprintln!("{} lapsed customers scored at {} (lapse threshold {})", s.customers.len(), format_day(at), days(m.lapse_days));
    }
    Ok(())
}

fn cmd_profile(c: &ProfileCmd, cli: &Cli) -> Res<()> {
    let m = load_model(&c.model)?;
    let at = day(&c.at.at, "--at")?;
    let (h, _) = c.input.load(cli.quiet)?;
    let s = step(cli.quiet, "scoring", || m.score(&h, at))?;
    warn_shares(&m, &s, cli.quiet);
    let p = step(cli.quiet, "profiling", || m.profile_scores(&h, &s));
    let json = || serde_json::to_string_pretty(&p).map_err(|e| Failure::Data(e.to_string()));
    if c.output.ends_with(".json") {
        let path = PathBuf::from(&c.output);
        std::fs::write(&path, json()?).map_err(|e| io_failure(&path, e))?;
    } else if c.output != "-" {
        output::write(&winback::profiles_table(&p)?, &c.output)?;
    } else if cli.json {
        // The profiles document, with the load report as every `--json` summary has it.
        return print_json(&serde_json::to_value(&p).map_err(|e| Failure::Data(e.to_string()))?);
    } else {
        for g in &p.groups {
            let rule = m.segmentation.group(g.group).map_or("", |x| x.sentence.as_str());
            outln!("group {} — {} customers ({:.1}%): {}", g.group, g.profile.size, g.profile.share * 100.0, g.profile.description);
            outln!("  rule: {rule}");
            if let Some(ch) = &g.profile.suggested_channel {
                outln!("  suggested channel: {} ({:.0}% use it most)", ch.channel, ch.share * 100.0);
            }
            let q = g.profile.recency_days;
            outln!("  last purchase {:.0} days ago (median; quartiles {:.0}–{:.0}); median spend {:.2}", q.median, q.q25, q.q75, g.profile.spend_total.median);
            for cat in &g.profile.top_categories {
                outln!("  {} {:.1}% of value (lift {:.2}, {} customer{})", cat.category, cat.share * 100.0, cat.lift, cat.customers, if cat.customers == 1 { "" } else { "s" });
            }
        }
        outln!("all — {} lapsed customers: {}", p.all.size, p.all.description);
        return Ok(());
    }
    if cli.json {
        print_json(&serde_json::json!({"at": format_day(at), "groups": p.groups.len(), "scored": p.all.size, "output": c.output}))?;
    } else if !cli.quiet {
        eprintln!("profiles of {} groups ({} lapsed customers at {}) written to {}", p.groups.len(), p.all.size, format_day(at), c.output);
    }
    Ok(())
}

fn print_plan(p: &Plan) -> Res<()> {
    outln!("{:>5} {:>8} {:>8} {:>10} {:>12} {:>10} {:>11}", "group", "p", "contacts", "cum.", "win-backs", "cost", "profit");
    for s in &p.steps {
        outln!("{:>5} {:>8.3} {:>8} {:>10} {:>12.1} {:>10.2} {:>11.2}", s.group, s.probability, s.contacts, s.cum_contacts, s.cum_expected_winbacks, s.cum_cost, s.cum_profit);
    }
    outln!(
        "stop: {:?} after {} groups; not contacted: {}, cost saved {:.2}",
        p.stop,
        p.steps.len(),
        p.not_contacted(),
        p.cost_saved + 0.0
    );
    Ok(())
}

/// Writes the contact list (`-o`), then prints the plan, or its JSON summary with
/// `extra` keys added, unless the list went to stdout.
fn finish_plan(p: &Plan, list: &[winback::rank::ContactRow], output: &Option<String>, cli: &Cli, extra: &[(&str, serde_json::Value)]) -> Res<()> {
    if let Some(o) = output {
        output::write(&winback::contacts_table(list)?, o)?;
    }
    print_plan_summary(p, output, cli, extra)
}

/// The plan's summary (text, or JSON with `extra` fields), unless the table took stdout.
fn print_plan_summary(p: &Plan, output: &Option<String>, cli: &Cli, extra: &[(&str, serde_json::Value)]) -> Res<()> {
    let stdout_taken = output.as_deref() == Some("-");
    if cli.json && !stdout_taken {
        let mut v = serde_json::to_value(p.summary()).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            for (k, x) in extra {
                obj.insert((*k).to_string(), x.clone());
            }
        }
        print_json(&v)?;
    } else if !stdout_taken {
        print_plan(p)?;
    }
    Ok(())
}

fn cmd_plan(c: &PlanCmd, cli: &Cli) -> Res<()> {
    one_thing_on_stdout(cli, c.output.as_deref())?;
    let m = load_model(&c.model)?;
    let at = day(&c.at.at, "--at")?;
    let (h, _) = c.input.load(cli.quiet)?;
    let s = step(cli.quiet, "scoring", || m.score(&h, at))?;
    warn_shares(&m, &s, cli.quiet);
    let (p, list) = m.plan(&s, &c.plan.params())?;
    finish_plan(&p, &list, &c.output, cli, &[])
}

fn cmd_feedback(c: &FeedbackCmd, cli: &Cli) -> Res<()> {
    one_thing_on_stdout(cli, c.output.as_deref())?;
    let mut m = load_model(&c.model)?;
    let at = day(&c.at.at, "--at")?;
    // The outcomes file is opened before the (long) load.
    let f = std::fs::File::open(&c.outcomes).map_err(|e| io_failure(&c.outcomes, e))?;
    let (h, _) = c.input.load(cli.quiet)?;
    let s = step(cli.quiet, "scoring", || m.score(&h, at))?;
    warn_shares(&m, &s, cli.quiet);
    let wave = winback::read_outcomes_with(f, &c.outcomes.display().to_string(), Some(&s))?;
    // The model changes only when the wave is recorded and the plan made: a bad
    // flag or file leaves it as it was, so a corrected re-run counts the wave once.
    let fb = m.feedback(&s, &wave, &c.plan.params())?;
    let out = c.model_out.clone().unwrap_or_else(|| c.model.clone());
    let extra = [("wave", fb.wave.into()), ("groups", serde_json::to_value(&fb.effects).unwrap_or_default())];
    // The contact list is written to a temporary file, the model saved, and only then
    // the list put in place and the summary printed: when either write fails, the wave
    // is not recorded and no list of it is left behind, and the corrected re-run
    // records it once.
    let staged = c.output.as_ref().map(|o| output::stage(&winback::contacts_table(&fb.contacts)?, o)).transpose()?;
    m.save(&out)?;
    if let Some(st) = staged {
        st.commit()?;
    }
    if !cli.json && c.output.as_deref() != Some("-") && !fb.effects.is_empty() {
        outln!("effect of contact per group (recorded waves with a control group; {} intervals):", report::level_pct(m.segmentation.params.interval_level()));
        outln!("group | contacted | came back | control | came back | effect [interval]");
        for e in &fb.effects {
            outln!(
                "{:>5} | {:>9} | {:>9} | {:>7} | {:>9} | {:+.3} [{:+.3}, {:+.3}]",
                e.group, e.contacted, e.contacted_came_back, e.control, e.control_came_back, e.effect, e.effect_low, e.effect_high
            );
        }
    }
    print_plan_summary(&fb.plan, &c.output, cli, &extra)?;
    if !cli.quiet && !cli.json {
        eprintln!("recorded wave {} ({} group outcome(s), {}) into {}", fb.wave, wave.outcomes.len(), wave.source, out.display());
    }
    Ok(())
}

fn cmd_campaign(c: &CampaignCmd, cli: &Cli) -> Res<()> {
    if !(c.cost_per_contact.is_finite() && c.cost_per_contact >= 0.0) {
        return Err(usage(format!("--cost-per-contact must be a finite number of at least 0, got {}", c.cost_per_contact)));
    }
    let m = load_model(&c.model)?;
    let waves = m.campaign()?;
    if cli.json {
        let rows: Vec<serde_json::Value> = waves
            .iter()
            .map(|w| {
                let mut v = serde_json::to_value(w).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("at".into(), format_day(w.at).into());
                    o.insert("cost_per_incremental_winback".into(), serde_json::to_value(w.cost_per_incremental(c.cost_per_contact)).unwrap_or_default());
                }
                v
            })
            .collect();
        return print_json(&serde_json::json!({ "waves": rows, "effects": m.effects()? }));
    }
    if waves.is_empty() {
        outln!("no wave recorded yet (winback feedback records one)");
        return Ok(());
    }
    outln!("wave | date       | contacted | came back | control | came back | effect per contact     | win-backs caused          | cost per caused");
    for w in &waves {
        let eff = w.effect.map_or("-".to_string(), |(e, lo, hi)| format!("{e:+.3} [{lo:+.3}, {hi:+.3}]"));
        let inc = w.incremental_winbacks.map_or("-".to_string(), |(e, lo, hi)| format!("{e:.1} [{lo:.1}, {hi:.1}]"));
        let cpi = w.cost_per_incremental(c.cost_per_contact).filter(|_| c.cost_per_contact > 0.0).map_or("-".to_string(), |v| format!("{v:.2}"));
        outln!(
            "{:>4} | {} | {:>9} | {:>9} | {:>7} | {:>9} | {:<22} | {:<25} | {}",
            w.wave, format_day(w.at), w.contacted, w.contacted_came_back, w.control, w.control_came_back, eff, inc, cpi
        );
    }
    Ok(())
}

fn cmd_uplift(c: &UpliftCmd, cli: &Cli) -> Res<()> {
    use winback::uplift::{UpliftModel, UpliftOptions};
    // One thing on stdout: the group table (-o -), the contact list (--contacts -) or the JSON summary.
    let on_stdout = [cli.json, c.output.as_deref() == Some("-"), c.contacts.as_deref() == Some("-")].iter().filter(|&&b| b).count();
    if on_stdout > 1 {
        return Err(usage("one thing on stdout: --json, `-o -` and `--contacts -` each print there; write the others to files"));
    }
    if !c.history.delimiter.is_ascii() {
        return Err(usage(format!("--delimiter {:?} must be one ASCII character", c.history.delimiter)));
    }
    let history = match (&c.history.transactions, &c.at) {
        (Some(_), Some(at)) => {
            let at = day(at, "--at")?;
            Some((c.history.load(cli.quiet)?.0, at))
        }
        (Some(_), None) => return Err(usage("--transactions needs --at (the wave's scoring date)")),
        _ => None,
    };
    // The table's traits, with winback's features at --at when a history is given.
    let read = |p: &Path| -> Res<(Attributes, Vec<winback::core::features::Feature>)> {
        let t = Attributes::read_csv(p, &c.id_col, &CsvOptions { delimiter: c.history.delimiter as u8, has_header: true })?;
        match &history {
            Some((h, at)) => Ok(winback::uplift::with_history_features(&t, h, *at, &Default::default())?),
            None => Ok((t, Vec::new())),
        }
    };
    let model = match &c.model {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Failure::Data(format!("cannot read {}: {e}", p.display())))?;
            UpliftModel::from_json(&text, &p.display().to_string())?
        }
        None => {
            let Some(path) = &c.table else { return Err(usage("--table or --model is needed")) };
            let (table, feature_kinds) = read(path)?;
            let options = UpliftOptions {
                exclude: c.exclude.clone(),
                feature_kinds,
                at: c.at.as_deref().map(|a| day(a, "--at")).transpose()?,
                ..UpliftOptions::new(&c.arm_col, &c.treatment, &c.control, &c.outcome_col)
            }
            .tree(c.groups, c.min_group_share, c.seed);
            step(cli.quiet, "growing uplift groups", || UpliftModel::fit(&table, &options))?
        }
    };
    // Everything that can fail comes before anything is written: a bad --evaluate or
    // --plan table left a new model file and group table behind with exit 1.
    let evaluation = c.evaluate.as_deref().map(|p| read(p).and_then(|(t, _)| Ok(model.evaluate(&t)?))).transpose()?;
    let planned = match &c.plan {
        Some(p) => {
            let (list, _) = read(p)?;
            Some(model.plan(&model.score(&list)?, &c.plan_opts.params())?)
        }
        None => None,
    };
    let contacts_table = match (&planned, &c.contacts) {
        (Some((_, contacts)), Some(_)) => Some(winback::contacts_table(contacts)?),
        _ => None,
    };
    if c.output.is_some() && c.output.as_deref() != Some("-") && c.output == c.contacts {
        return Err(usage("-o and --contacts name the same file: the contact list would overwrite the group table"));
    }
    let groups_table = c.output.as_ref().map(|_| winback::uplift_groups_table(&model)).transpose()?;
    // Both tables staged, the model saved, then the tables put in place.
    let staged_groups = match (&groups_table, &c.output) {
        (Some(t), Some(o)) => Some(output::stage(t, o)?),
        _ => None,
    };
    let staged_contacts = match (&contacts_table, &c.contacts) {
        (Some(t), Some(o)) => Some(output::stage(t, o)?),
        _ => None,
    };
    if let Some(p) = &c.save {
        model.save(p)?;
    }
    for st in [staged_groups, staged_contacts].into_iter().flatten() {
        st.commit()?;
    }
    let planned = planned.map(|(plan, _)| plan);
    if cli.json {
        return print_json(&serde_json::json!({
            "report": model.report,
            "groups": model.tree.groups,
            "note": model.tree.note,
            "evaluation": evaluation,
            "plan": planned.as_ref().map(|p| p.summary()),
        }));
    }
    if c.output.as_deref() == Some("-") || c.contacts.as_deref() == Some("-") {
        return Ok(());
    }
    let r = &model.report;
    outln!(
        "{} rows: {} contacted ({:.1}% came back), {} control ({:.1}%); left out: {} other arm, {} arm missing, {} outcome missing",
        r.rows,
        r.contacted,
        model.tree.contact_rate * 100.0,
        r.control,
        model.tree.control_rate * 100.0,
        r.other_arm,
        r.missing_arm,
        r.missing_outcome
    );
    if !r.unused_columns.is_empty() {
        outln!("not traits: {}", r.unused_columns.join(", "));
    }
    outln!("{:>5} {:>7} {:>6} {:>9} {:>9} {:>27}  rule", "group", "size", "share", "contact", "control", format!("effect [{}] (held out)", report::level_pct(model.tree.params.interval_level())));
    for g in &model.tree.groups {
        outln!(
            "{:>5} {:>7} {:>5.1}% {:>8.1}% {:>8.1}% {:>+8.3} [{:+.3}, {:+.3}]  {}",
            g.id,
            g.size,
            g.share * 100.0,
            g.contact_rate * 100.0,
            g.control_rate * 100.0,
            g.effect,
            g.effect_low,
            g.effect_high,
            g.sentence
        );
    }
    if let Some(n) = &model.tree.note {
        outln!("note: {n}");
    }
    if let Some(e) = &evaluation {
        outln!("measured on {} other customers ({} contacted, {} control):", e.report.rows, e.report.contacted, e.report.control);
        for g in &e.groups {
            outln!("  group {:>2}: {:>6} contacted, {:>6} control, effect {:+.3} [{:+.3}, {:+.3}]", g.group, g.contacted, g.control, g.effect, g.effect_low, g.effect_high);
        }
        let at30 = e.uplift_at_30.map_or("-".to_string(), |v| format!("{v:+.4}"));
        outln!("  Qini coefficient {:.5}, uplift in the top 30% {at30}", e.qini_coefficient);
    }
    if let Some(p) = &planned {
        outln!("next wave, planned on the effect of contact (win-backs caused):");
        print_plan(p)?;
    }
    Ok(())
}

fn cmd_backtest(c: &BacktestCmd, cli: &Cli) -> Res<()> {
    let at = day(&c.at.at, "--at")?;
    // Flags are checked before the (long) load.
    let given: Vec<_> = c.cutoffs.iter().map(|s| day(s, "--cutoffs")).collect::<Res<_>>()?;
    let config = c.model_opts.config(&c.lapse)?;
    let (h, _) = c.input.load(cli.quiet)?;
    let cutoffs = if given.is_empty() { winback::default_cutoffs(&h, at, &config, 3) } else { given };
    let b = step(cli.quiet, "backtesting", || winback::backtest(&h, at, &cutoffs, &config))?;
    if cli.json {
        // Dates as YYYY-MM-DD, as every other command prints them (not day numbers).
        let mut v = serde_json::to_value(&b).unwrap_or_default();
        for row in v.get_mut("rows").and_then(|r| r.as_array_mut()).into_iter().flatten() {
            if let Some(d) = row.get("cutoff").and_then(|d| d.as_i64()).and_then(|d| i32::try_from(d).ok()) {
                row["cutoff"] = serde_json::Value::String(format_day(d));
            }
        }
        print_json(&v)?;
    } else {
        out!("{}", b.table());
    }
    Ok(())
}

fn cmd_report(c: &ReportCmd, cli: &Cli) -> Res<()> {
    let to_stdout = c.output.as_os_str() == "-";
    one_thing_on_stdout(cli, to_stdout.then_some("-"))?;
    let m = load_model(&c.model)?;
    let at = day(&c.at.at, "--at")?;
    // Flags are checked before the (long) load.
    let given: Vec<_> = c.cutoffs.iter().map(|x| day(x, "--cutoffs")).collect::<Res<Vec<_>>>()?;
    // The uplift model and its table are read (and checked) before the long load.
    let uplift = match (&c.uplift, &c.uplift_table) {
        (Some(u), Some(t)) => {
            let text = std::fs::read_to_string(u).map_err(|e| io_failure(u, e))?;
            let model = winback::uplift::UpliftModel::from_json(&text, &u.display().to_string())?;
            let table = Attributes::read_csv(t, &c.uplift_id_col, &CsvOptions { delimiter: c.input.delimiter as u8, has_header: true })?;
            Some((model, table))
        }
        _ => None,
    };
    let (h, _) = c.input.load(cli.quiet)?;
    let options = ReportOptions { plan: c.plan.params(), cutoffs: given, uplift: uplift.as_ref().map(|(u, t)| (u, t)) };
    let data = m.report_data(&h, at, &options, &Bar::new(cli.quiet))?;
    warn_shares(&m, &data.scores, cli.quiet);
    let (s, cutoffs) = (&data.scores, &data.cutoffs);
    let uplift_shown = uplift.as_ref().zip(data.uplift.as_ref()).map(|((u, _), e)| (u, e));
    let html = report::render(&m, s, &data.plan, data.backtest.as_ref(), &data.profiles, &data.waves, uplift_shown);
    if to_stdout {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(html.as_bytes()).and_then(|()| out.flush()).map_err(|e| stdout_failure(&e, "the report to standard output"))?;
        return Ok(());
    }
    std::fs::write(&c.output, html).map_err(|e| io_failure(&c.output, e))?;
    if cli.json {
        print_json(&serde_json::json!({"report": c.output.display().to_string(), "groups": m.segmentation.groups.len(), "scored": s.customers.len(), "backtest_cutoffs": cutoffs.len()}))?;
    } else if !cli.quiet {
        eprintln!("report written to {}", c.output.display());
    }
    Ok(())
}

/// The bundled samples for `winback demo`: `./datasets` (run from the repository),
/// then the repository the binary was built in (`target/release/winback` two levels
/// down; then the source path, for a binary moved elsewhere on the build machine).
/// A binary installed elsewhere says where it looked.
fn demo_data_dir() -> Res<PathBuf> {
    let file = "online_retail_invoices.csv.gz";
    let mut candidates = vec![PathBuf::from("datasets")];
    if let Some(repo) = std::env::current_exe().ok().and_then(|e| e.parent()?.parent()?.parent().map(Path::to_path_buf)) {
        candidates.push(repo.join("datasets"));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets"));
    if let Some(dir) = candidates.iter().find(|d| d.join(file).is_file()) {
        return Ok(dir.clone());
    }
    let looked = candidates.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
    Err(usage(format!("the bundled samples ({file}) are not in {looked}: pass --data-dir with the repository's datasets/ folder")))
}

fn cmd_demo(c: &DemoCmd, cli: &Cli) -> Res<()> {
    let dir = match &c.data_dir {
        Some(d) => d.clone(),
        None => demo_data_dir()?,
    };
    let input = Input {
        transactions: Some(dir.join("online_retail_invoices.csv.gz")),
        customer_col: "customer_id".into(),
        date_col: "invoice_date".into(),
        amount_col: "amount".into(),
        quantity_col: Some("quantity".into()),
        order_col: Some("invoice_no".into()),
        channel_col: None,
        category_col: None,
        region_col: Some("country".into()),
        cancel_col: Some("is_cancellation".into()),
        attributes: None,
        attributes_key: "customer_id".into(),
        date_format: None,
        time_zone: None,
        delimiter: ',',
        strict: false,
        skip_zero_amounts: false,
        drop_duplicates: false,
    };
    let (h, _) = input.load(cli.quiet)?;
    let at = day("2011-12-10", "--at")?;
    let m = step(cli.quiet, "fitting", || WinbackModel::fit(&h, at, &Config::default()))?;
    let s = m.score(&h, at)?;
    let params = PlanParams { objective: Objective::Profit, cost_per_contact: 2.0, margin: 0.3, target_winbacks: Some(200.0), ..Default::default() };
    let (p, _) = m.plan(&s, &params)?;
    if cli.json {
        print_json(&serde_json::json!({"lapse_days": m.lapse_days, "groups": m.segmentation.groups, "plan": p.summary()}))?;
        return Ok(());
    }
    outln!("UCI Online Retail sample, standing at {}: lapse threshold {}, {} lapsed", format_day(at), days(m.lapse_days), s.customers.len());
    out!("{}", group_table(&m));
    outln!("\nplan: profit order, 2.00 per contact, 30% margin, target 200 win-backs");
    print_plan(&p)?;
    Ok(())
}

/// Prepends the flags of a TOML config file to the subcommand's arguments.
/// The command line with the flags of `--config FILE` inserted, and the file's
/// path (to name it when the parser refuses one of its flags).
fn with_config(args: Vec<String>) -> Res<(Vec<String>, Option<String>)> {
    let args = config::split_config_flag(args);
    let Some(i) = args.iter().position(|a| a == "--config") else { return Ok((args, None)) };
    let path = args.get(i + 1).ok_or_else(|| usage("--config needs a file"))?.clone();
    let text = std::fs::read_to_string(&path).map_err(|e| usage(format!("cannot read config {path}: {e}")))?;
    let accepted = accepted_flags(&args);
    Ok((config::with_flags(args, &text, &path, &accepted).map_err(usage)?, Some(path)))
}

/// What each subcommand takes, and the flags of the user's command line (with
/// those they cannot be combined with), from the parser's own description.
fn accepted_flags(args: &[String]) -> config::Accepted {
    use clap::CommandFactory;
    let mut root = Cli::command();
    root.build();
    let flags = root
        .get_subcommands()
        .map(|c| (c.get_name().to_string(), c.get_arguments().filter_map(|a| a.get_long().map(str::to_string)).collect()))
        .collect();
    let mut overridden: Vec<String> = Vec::new();
    let sub = config::subcommand_position(args).and_then(|i| root.find_subcommand(&args[i]).cloned());
    if let Some(sub) = sub {
        let given: Vec<&clap::Arg> = sub
            .get_arguments()
            .filter(|a| {
                args.iter().any(|w| {
                    let long = a.get_long().is_some_and(|l| w == &format!("--{l}") || w.starts_with(&format!("--{l}=")));
                    let short = a.get_short().is_some_and(|c| w == &format!("-{c}"));
                    long || short
                })
            })
            .collect();
        for a in sub.get_arguments() {
            let conflicts = sub.get_arg_conflicts_with(a);
            let a_given = given.iter().any(|g| g.get_id() == a.get_id());
            for b in conflicts {
                let b_given = given.iter().any(|g| g.get_id() == b.get_id());
                // Symmetric: a conflict declared on either side overrides the other.
                if a_given {
                    overridden.extend(b.get_long().map(str::to_string));
                }
                if b_given {
                    overridden.extend(a.get_long().map(str::to_string));
                }
            }
        }
        overridden.extend(given.iter().filter_map(|a| a.get_long().map(str::to_string)));
    }
    config::Accepted { flags, overridden }
}

fn run(cli: &Cli) -> Res<()> {
    match &cli.cmd {
        Cmd::Lapse(c) => cmd_lapse(c, cli),
        Cmd::Features(c) => cmd_features(c, cli),
        Cmd::Fit(c) => cmd_fit(c, cli),
        Cmd::Score(c) => cmd_score(c, cli),
        Cmd::Plan(c) => cmd_plan(c, cli),
        Cmd::Feedback(c) => cmd_feedback(c, cli),
        Cmd::Campaign(c) => cmd_campaign(c, cli),
        Cmd::Uplift(c) => cmd_uplift(c, cli),
        Cmd::Profile(c) => cmd_profile(c, cli),
        Cmd::Backtest(c) => cmd_backtest(c, cli),
        Cmd::Report(c) => cmd_report(c, cli),
        Cmd::Demo(c) => cmd_demo(c, cli),
    }
}

fn main() -> ExitCode {
    give_memory_back_sooner();
    std::panic::set_hook(Box::new(|info| {
        eprintln!("winback: internal error: {info}. Please report it.");
    }));
    let (args, config_file) = match with_config(std::env::args().collect()) {
        Ok(a) => a,
        Err(Failure::Usage(m) | Failure::Data(m)) => {
            eprintln!("winback: {m}");
            return ExitCode::from(2);
        }
        Err(Failure::Closed) => return ExitCode::from(141),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            e.print().ok();
            if let (Some(path), true) = (&config_file, e.use_stderr()) {
                eprintln!("(the command line included the flags of {path})");
            }
            return ExitCode::from(code);
        }
    };
    if cli.timings {
        timings::enable();
    }
    let code = match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Data(m)) => {
            eprintln!("winback: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(m)) => {
            eprintln!("winback: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Closed) => ExitCode::from(141),
    };
    // Also when the command failed: how far it got, and in what time.
    if let Some(t) = timings::report() {
        eprint!("{t}");
    }
    code
}

#[cfg(test)]
mod tests {
    /// Option 15 reads as mimalloc v3's purge delay default (1000 ms) and is set
    /// to the program's: with another mimalloc (where the default differs, or 15
    /// is another option) nothing is set and this fails. (Under `cargo test`
    /// other tests' threads may be allocating while the option is written, which
    /// `main` avoids; an aligned `long` is written whole on every target built.)
    #[test]
    #[allow(unsafe_code)]
    fn the_allocator_gives_memory_back_after_100_ms() {
        let from_env = super::delay_from_environment();
        // SAFETY: reads one entry of mimalloc's option table (see `give_memory_back_sooner`).
        let before = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        super::give_memory_back_sooner();
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        if from_env {
            assert_eq!(after, before, "the environment's delay is kept");
        } else {
            assert_eq!((before, after), (super::MIMALLOC_DEFAULT_PURGE_DELAY, super::OUR_PURGE_DELAY));
        }
    }
}
