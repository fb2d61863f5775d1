//! The main job on the bundled data: `cargo run --release --example demo`.
//!
//! For each real sample: load it (and say what was skipped), learn who has
//! lapsed, fit the groups standing at the end of the data, score the lapsed
//! customers, and plan the contacts with a target and a cost per contact, saying
//! where to stop.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use winback::core::attributes::Attributes;
use winback::core::date::{format_day, parse_iso_date};
use winback::core::lapse::LapseRule;
use winback::core::read::{read_csv, ColumnMap, CsvOptions};
use winback::core::{History, LoadOptions};
use winback::rank::{Objective, PlanParams};
use winback::{Config, WinbackModel};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets").join(name)
}

fn run(title: &str, history: &History, at: &str, config: &Config, cost: f64, margin: f64) -> Result<(), Box<dyn std::error::Error>> {
    let at = parse_iso_date(at).ok_or("date")?;
    println!("\n=== {title}: standing at {} ===", format_day(at));
    let model = WinbackModel::fit(history, at, config)?;
    let l = &model.lapse;
    print!("lapse threshold: {} days", model.lapse_days);
    if let Some(g) = &l.gaps {
        let q: Vec<String> = g.quantiles.iter().map(|(q, v)| format!("q{q}={v:.0}")).collect();
        print!(" (0.9-quantile of {} gaps between purchase days; {})", g.count, q.join(" "));
    }
    println!("\n{} of {} customers with history are lapsed", l.lapsed, l.customers_with_history);
    println!(
        "trained on {} rows from {} cutoffs ({} .. {}), base rate {:.3}",
        model.training_rows,
        model.training_cutoffs.len(),
        model.training_cutoffs.last().map_or(String::new(), |d| format_day(*d)),
        model.training_cutoffs.first().map_or(String::new(), |d| format_day(*d)),
        model.segmentation.base_rate
    );
    println!("\n{:>5} {:>7} {:>6} {:>22} {:>6}  rule", "group", "size", "share", "p(back in 60 days)", "pooled");
    for g in &model.segmentation.groups {
        let pooled = g.pooled_run().unwrap_or_default();
        println!("{:>5} {:>7} {:>5.1}% {:>8.3} [{:.3}, {:.3}] {pooled:>6}  {}", g.id, g.size, g.share * 100.0, g.probability, g.low, g.high, g.sentence);
    }
    if model.segmentation.groups.iter().any(|g| !g.pooled.is_empty()) {
        println!("pooled: groups are numbered by a smooth chance of coming back; a run whose own rates went against that order shares one probability");
    }
    if let Some(n) = &model.segmentation.note {
        println!("note: {n}");
    }
    let scores = model.score(history, at)?;
    let total: f64 = scores.customers.iter().map(|c| c.probability).sum();
    let target = (total * 0.6).round();
    let params = PlanParams { objective: Objective::Profit, cost_per_contact: cost, margin, target_winbacks: Some(target), ..Default::default() };
    let (plan, contacts) = model.plan(&scores, &params)?;
    println!(
        "\nplan for {} lapsed customers: target {target} expected win-backs (60% of {total:.0}), cost {cost:.2} per contact, margin {:.0}%",
        scores.customers.len(),
        margin * 100.0
    );
    println!("{:>5} {:>8} {:>10} {:>12} {:>10} {:>10}", "group", "contacts", "cum.", "win-backs", "cost", "profit");
    for s in &plan.steps {
        println!("{:>5} {:>8} {:>10} {:>12.1} {:>10.2} {:>10.2}", s.group, s.contacts, s.cum_contacts, s.cum_expected_winbacks, s.cum_cost, s.cum_profit);
    }
    println!(
        "stop: {:?} after {} of {} groups; not contacted: {}, {:.2} saved",
        plan.stop,
        plan.steps.len(),
        plan.steps.len() + plan.groups_skipped().len(),
        plan.not_contacted(),
        plan.cost_saved
    );
    if let Some(first) = contacts.first() {
        println!("first on the contact list: {} (group {}, p={:.3})", first.customer, first.group, first.probability);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let csv = CsvOptions::default();
    let map = ColumnMap::new("household_id", "date", "sales_value").quantity("quantity").order("basket_id").category("department").region("store_id");
    let (cj, report) = read_csv(data("completejourney_baskets.csv.gz"), &map, &csv, &LoadOptions::default())?;
    print!("{report}");
    let cj = cj.with_attributes(Attributes::read_csv(data("completejourney_demographics.csv"), "household_id", &csv)?);
    // Grocery: a household is lapsed after 30 days without a basket (the 0.9-quantile gap is ~10 days).
    let cj_config = Config { lapse: LapseRule::Fixed { days: 30 }, ..Default::default() };
    run("dunnhumby Complete Journey (grocery)", &cj, "2018-01-01", &cj_config, 1.0, 0.3)?;

    let map = ColumnMap::new("customer_id", "invoice_date", "amount").quantity("quantity").order("invoice_no").region("country").cancelled("is_cancellation");
    let (or, report) = read_csv(data("online_retail_invoices.csv.gz"), &map, &csv, &LoadOptions::default())?;
    print!("\n{report}");
    run("UCI Online Retail (gifts, wholesale)", &or, "2011-12-10", &Config::default(), 2.0, 0.3)?;
    Ok(())
}
