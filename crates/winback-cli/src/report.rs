//! The HTML report: one self-contained file (inline CSS and SVG, no network, no
//! external script or font). A few lines of inline script only record each
//! chart's rendered size in `data-` attributes, so a headless browser test can
//! check that the charts drew.

use std::fmt::Write;

use winback::core::date::format_day;
use winback::core::profile::{Profile, Profiles};
use winback::rank::{Effect, Plan};
use winback::uplift::{UpliftEvaluation, UpliftModel};
use winback::{Backtest, Scores, WaveSummary, WinbackModel};

/// An interval level as a label: 0.9 → "90%", 0.975 → "97.5%".
pub(crate) fn level_pct(level: f64) -> String {
    let p = level * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const W: f64 = 560.0;
const H: f64 = 260.0;
const PAD: f64 = 40.0;

fn axes(s: &mut String, x_label: &str, y_label: &str) {
    let _ = write!(
        s,
        r##"<line x1="{PAD}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#555"/><line x1="{PAD}" y1="{PAD_TOP}" x2="{PAD}" y2="{y0}" stroke="#555"/><text x="{xm}" y="{yl}" text-anchor="middle" font-size="12">{x_label}</text><text x="12" y="{ym}" font-size="12" transform="rotate(-90 12 {ym})" text-anchor="middle">{y_label}</text>"##,
        y0 = H - PAD,
        x1 = W - 10.0,
        PAD_TOP = 10.0,
        xm = (W + PAD) / 2.0,
        yl = H - 8.0,
        ym = H / 2.0
    );
}

fn gap_histogram(m: &WinbackModel) -> String {
    let Some(g) = &m.lapse.gaps else {
        return "<p>Fixed lapse threshold: no gap distribution was learned.</p>".into();
    };
    let q99 = g.quantiles.last().map_or(g.histogram.len() as f64, |q| q.1);
    let limit = ((q99.max(m.lapse_days as f64) * 1.2).ceil() as usize).clamp(10, g.histogram.len().max(10)).min(g.histogram.len());
    let bins = &g.histogram[..limit];
    let max = bins.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bw = (W - PAD - 10.0) / bins.len().max(1) as f64;
    let mut s = format!(r##"<svg class="chart" id="gaps" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="gap histogram">"##);
    axes(&mut s, "days between purchases", "gaps");
    for (i, &n) in bins.iter().enumerate() {
        let h = (H - PAD - 10.0) * n as f64 / max;
        let _ = write!(s, r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#7aa6d6"/>"##, PAD + i as f64 * bw, H - PAD - h, (bw - 0.5).max(0.5), h);
    }
    for k in 0..=4 {
        let d = (bins.len() as f64 * f64::from(k) / 4.0).round();
        let x = PAD + d * bw;
        let _ = write!(
            s,
            r##"<line class="tick" x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{:.1}" stroke="#555"/><text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle">{d}</text>"##,
            H - PAD + 4.0,
            H - PAD + 14.0,
            y0 = H - PAD
        );
    }
    let _ = write!(s, r##"<text x="{:.1}" y="18" font-size="10" text-anchor="end">{}</text>"##, PAD - 4.0, max as u64);
        let tx = PAD + m.lapse_days as f64 * bw;
    let _ = write!(
        s,
        r##"<line x1="{tx:.1}" y1="10" x2="{tx:.1}" y2="{:.1}" stroke="#c0392b" stroke-width="2"/><text x="{:.1}" y="22" font-size="12" fill="#c0392b">lapse threshold {} days</text></svg>"##,
        H - PAD,
        tx + 4.0,
        m.lapse_days
    );
    s
}

fn gains_chart(p: &Plan) -> String {
    let mut s = format!(r##"<svg class="chart" id="gains" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="gains chart">"##);
    axes(&mut s, "share of the customers planned (controls aside)", "share of expected win-backs");
    let (x0, y0, w, h) = (PAD, H - PAD, W - PAD - 10.0, H - PAD - 10.0);
    for k in 0..=4 {
        let v = f64::from(k) / 4.0;
        let _ = write!(
            s,
            r##"<line class="tick" x1="{:.1}" y1="{y0}" x2="{:.1}" y2="{:.1}" stroke="#555"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{pc}%</text><line class="tick" x1="{:.1}" y1="{:.1}" x2="{x0}" y2="{:.1}" stroke="#555"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{pc}%</text>"##,
            x0 + v * w,
            x0 + v * w,
            y0 + 4.0,
            x0 + v * w,
            y0 + 14.0,
            x0 - 4.0,
            y0 - v * h,
            y0 - v * h,
            x0 - 6.0,
            y0 - v * h + 3.0,
            pc = k * 25
        );
    }
    let _ = write!(s, r##"<line x1="{x0}" y1="{y0}" x2="{:.1}" y2="10" stroke="#bbb" stroke-dasharray="4 3"/>"##, x0 + w);
    let mut pts = format!("{x0},{y0}");
    for g in &p.gains {
        let _ = write!(pts, " {:.1},{:.1}", x0 + g.contact_share * w, y0 - g.winback_share * h);
    }
    let _ = write!(s, r##"<polyline points="{pts}" fill="none" stroke="#2c7be5" stroke-width="2"/>"##);
    if let Some((sx, sy)) = p.stop_point() {
        let (cx, cy) = (x0 + sx * w, y0 - sy * h);
        let _ = write!(s, r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="5" fill="#c0392b"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#c0392b">stop</text>"##, cx + 7.0, cy + 4.0);
    }
    s.push_str("</svg>");
    s
}

fn calibration_chart(bt: Option<&Backtest>) -> String {
    let Some(row) = bt.and_then(|b| b.rows.last()) else {
        return "<p>No backtest: the data do not reach far enough back.</p>".into();
    };
    let cal = &row.model.calibration;
    let top = (cal.iter().map(|r| r.predicted.max(r.observed)).fold(0.05, f64::max) * 1.15).min(1.0);
    let mut s = format!(r##"<svg class="chart" id="calibration" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="calibration chart">"##);
    axes(&mut s, "predicted probability (group)", "observed rate");
    let (x0, y0, w, h) = (PAD, H - PAD, W - PAD - 10.0, H - PAD - 10.0);
    let _ = write!(s, r##"<line x1="{x0}" y1="{y0}" x2="{:.1}" y2="10" stroke="#bbb" stroke-dasharray="4 3"/>"##, x0 + w);
    for k in 0..=2 {
        let v = top * f64::from(k) / 2.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{v:.2}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{v:.2}</text>"##,
            x0 - 4.0,
            y0 - v / top * h + 3.0,
            x0 + v / top * w,
            y0 + 12.0
        );
    }
    let nmax = cal.iter().map(|r| r.count).max().unwrap_or(1).max(1) as f64;
    for r in cal {
        let (cx, cy) = (x0 + r.predicted / top * w, y0 - r.observed / top * h);
        let rad = 3.0 + 9.0 * (r.count as f64 / nmax).sqrt();
        let _ = write!(
            s,
            r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="{rad:.1}" fill="#2c7be5" fill-opacity="0.5"><title>group {}: predicted {:.3}, observed {:.3}, n={}</title></circle>"##,
            r.bin, r.predicted, r.observed, r.count
        );
    }
    let _ = write!(s, r##"<text x="{:.1}" y="24" font-size="12">backtest at {}: ECE {:.3}, AUC {:.3}</text></svg>"##, x0 + 10.0, format_day(row.cutoff), row.model.ece, row.model.auc);
    s
}

fn mix(v: &[winback::core::profile::LevelShare]) -> String {
    v.iter().take(4).map(|l| format!("{} {:.0}% (×{:.2}, {})", esc(&l.level), l.share * 100.0, l.lift, l.customers)).collect::<Vec<_>>().join(", ")
}

/// One group's briefing: rule, probability, profile highlights, suggested channel.
fn briefing(m: &WinbackModel, group: usize, pr: &Profile, s: &Scores) -> String {
    let Some(g) = m.segmentation.group(group) else { return String::new() };
    let share = s.group_shares.get(group - 1).copied().unwrap_or(0.0);
    let mut b = format!(
        r#"<div class="profile" id="profile-{id}"><h3>Group {id} — {p:.1}% chance of a win-back ({lv} interval {lo:.1}–{hi:.1}%)</h3><p class="desc">{desc}</p><p><b>Rule:</b> {rule}</p><p><b>On the list:</b> {n} customers ({sh:.1}% of the lapsed list)."#,
        id = g.id,
        lv = level_pct(m.segmentation.params.interval_level()),
        p = g.probability * 100.0,
        lo = g.low * 100.0,
        hi = g.high * 100.0,
        desc = esc(&pr.description),
        rule = esc(&g.sentence),
        n = pr.size,
        sh = share * 100.0
    );
    match &pr.suggested_channel {
        Some(c) => {
            let _ = write!(b, r#" <span class="channel"><b>Suggested channel:</b> {} ({:.0}% buy there most)</span>"#, esc(&c.channel), c.share * 100.0);
        }
        None => b.push_str(r#" <span class="channel"><b>Suggested channel:</b> no channel column in the data</span>"#),
    }
    b.push_str("</p><ul>");
    let _ = write!(
        b,
        "<li>last purchase {:.0} days ago (median; middle half {:.0}–{:.0}); {:.0} purchases; customer for {:.0} days; spend {:.2} in all, {:.2} per purchase (medians); {:.0}% bought on one day only</li>",
        pr.recency_days.median,
        pr.recency_days.q25,
        pr.recency_days.q75,
        pr.purchases.median,
        pr.tenure_days.median,
        pr.spend_total.median,
        pr.spend_per_purchase.median,
        pr.one_time_share * 100.0
    );
    if !pr.top_categories.is_empty() {
        let cats = pr.top_categories.iter().map(|c| format!("{} {:.0}% of value (×{:.2}, {} customer{})", esc(&c.category), c.share * 100.0, c.lift, c.customers, if c.customers == 1 { "" } else { "s" })).collect::<Vec<_>>().join(", ");
        let _ = write!(b, "<li>categories: {cats}</li>");
    }
    if !pr.main_regions.is_empty() {
        let _ = write!(b, "<li>main regions: {}</li>", mix(&pr.main_regions));
    }
    if !pr.first_channel.is_empty() {
        let _ = write!(b, "<li>first purchase channel: {}</li>", mix(&pr.first_channel));
    }
    let _ = write!(b, "<li>ABC class: {}</li>", mix(&pr.abc_class));
    for (name, levels) in &pr.attributes {
        if !levels.is_empty() {
            let _ = write!(b, "<li>{}: {}</li>", esc(&name.replace('_', " ")), mix(levels));
        }
    }
    b.push_str("</ul><p class=\"note\">×: lift against the whole lapsed list; the count is the customers behind it.</p></div>");
    b
}

/// The whole report.
/// Effects per group with their intervals: a dot and a bar per group, a zero line.
fn effects_chart(id: &str, effects: &[(String, f64, f64, f64)], level: f64) -> String {
    let lo = effects.iter().map(|e| e.2).fold(0.0f64, f64::min);
    let hi = effects.iter().map(|e| e.3).fold(0.01f64, f64::max);
    let (lo, hi) = (lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo));
    let mut s = format!(r##"<svg class="chart" id="{id}" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="effect per group">"##);
    axes(&mut s, "group", &format!("effect of a contact ({} interval)", level_pct(level)));
    let (x0, y0, w, h) = (PAD, H - PAD, W - PAD - 10.0, H - PAD - 10.0);
    let y = |v: f64| y0 - (v - lo) / (hi - lo) * h;
    let _ = write!(s, r##"<line x1="{x0}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#bbb" stroke-dasharray="4 3"/>"##, y(0.0), x0 + w, y(0.0));
    for v in [lo, 0.0, hi] {
        let _ = write!(s, r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{:+.2}</text>"##, x0 - 4.0, y(v) + 3.0, v);
    }
    let step = w / effects.len().max(1) as f64;
    for (i, (label, e, l, u)) in effects.iter().enumerate() {
        let cx = x0 + step * (i as f64 + 0.5);
        let _ = write!(
            s,
            r##"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="#2c7be5" stroke-width="2"/><circle cx="{cx:.1}" cy="{:.1}" r="4" fill="#2c7be5"><title>{}: {e:+.3} [{l:+.3}, {u:+.3}]</title></circle><text class="tick" x="{cx:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
            y(*l),
            y(*u),
            y(*e),
            esc(label),
            y0 + 14.0,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

/// One part per recorded wave: both arms, the effect, and the effect per group.
fn waves_section(waves: &[(WaveSummary, Vec<Effect>)], level: f64) -> String {
    if waves.is_empty() {
        return String::new();
    }
    let mut s = String::from("<h2>Campaign waves</h2>");
    for (w, effects) in waves {
        let effect = w.effect.map_or("no control group: the effect of contact is not measured".to_string(), |(e, lo, hi)| {
            format!("effect per contact <b>{e:+.3}</b> [{lo:+.3}, {hi:+.3}]")
        });
        let _ = write!(
            s,
            r#"<div class="wave" id="wave-{n}"><h3>Wave {n} — scored at {at}</h3><p>{c} contacted ({ck} came back), {k} in the control group ({kk} came back); {effect}.</p>"#,
            n = w.wave,
            at = format_day(w.at),
            c = w.contacted,
            ck = w.contacted_came_back,
            k = w.control,
            kk = w.control_came_back
        );
        if !effects.is_empty() {
            let _ = write!(s, "<table><tr><th>group</th><th>contacted</th><th>came back</th><th>control</th><th>came back</th><th>effect</th><th>{} interval</th></tr>", level_pct(level));
            for e in effects {
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:+.3}</td><td>[{:+.3}, {:+.3}]</td></tr>",
                    e.group, e.contacted, e.contacted_came_back, e.control, e.control_came_back, e.effect, e.effect_low, e.effect_high
                );
            }
            s.push_str("</table><div class=\"charts\">");
            let pts: Vec<(String, f64, f64, f64)> = effects.iter().map(|e| (e.group.to_string(), e.effect, e.effect_low, e.effect_high)).collect();
            s.push_str(&effects_chart(&format!("wave-{}-effects", w.wave), &pts, level));
            s.push_str("</div>");
        }
        s.push_str("</div>");
    }
    s
}

/// The Qini curve of uplift groups measured on a campaign table, with the random line.
fn qini_chart(e: &UpliftEvaluation) -> String {
    let top = e.qini.iter().map(|p| p.1).fold(1e-6f64, f64::max) * 1.15;
    let bottom = e.qini.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let mut s = format!(r##"<svg class="chart" id="qini" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="Qini curve">"##);
    axes(&mut s, "share of the list (largest effect first)", "caused among contacted ÷ list");
    let (x0, y0, w, h) = (PAD, H - PAD, W - PAD - 10.0, H - PAD - 10.0);
    let y = |v: f64| y0 - (v - bottom) / (top - bottom) * h;
    for k in 0..=4 {
        let v = f64::from(k) / 4.0;
        let _ = write!(s, r##"<text class="tick" x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}%</text>"##, x0 + v * w, y0 + 14.0, k * 25);
    }
    for v in [bottom, (bottom + top) / 2.0, top] {
        let _ = write!(s, r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{v:.3}</text>"##, x0 - 4.0, y(v) + 3.0);
    }
    let end = e.qini.last().copied().unwrap_or((1.0, 0.0));
    let _ = write!(s, r##"<line x1="{x0}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#bbb" stroke-dasharray="4 3"/>"##, y(0.0), x0 + end.0 * w, y(end.1));
    let pts: Vec<String> = e.qini.iter().map(|(a, b)| format!("{:.1},{:.1}", x0 + a * w, y(*b))).collect();
    let _ = write!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#2c7be5" stroke-width="2"/><text x="{:.1}" y="24" font-size="12">Qini coefficient {:.5}; uplift in the top 30%: {}</text></svg>"##,
        pts.join(" "),
        x0 + 10.0,
        e.qini_coefficient,
        e.uplift_at_30.map_or("-".into(), |v| format!("{v:+.3}"))
    );
    s
}

/// Uplift groups: the fitted table, the effects measured on the campaign table and the Qini curve.
fn uplift_section(u: &UpliftModel, e: &UpliftEvaluation) -> String {
    let mut s = format!(
        "<h2>Uplift groups</h2><p>Fitted on {} customers of a past campaign ({} contacted, {} control; <code>{}</code> = “{}” vs “{}”, outcome <code>{}</code>), measured on {} other customers.</p>",
        u.report.rows,
        u.report.contacted,
        u.report.control,
        esc(&u.arm_col),
        esc(&u.treatment),
        esc(&u.control),
        esc(&u.outcome_col),
        e.report.rows
    );
    let _ = write!(s, "<table><tr><th>group</th><th>size</th><th>effect (fit, held out)</th><th>effect measured</th><th>{} interval</th><th>rule</th></tr>", level_pct(u.tree.params.interval_level()));
    for (g, m) in u.tree.groups.iter().zip(&e.groups) {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{:+.3} [{:+.3}, {:+.3}]</td><td>{:+.3}</td><td>[{:+.3}, {:+.3}]</td><td>{}</td></tr>",
            g.id,
            g.size,
            g.effect,
            g.effect_low,
            g.effect_high,
            m.effect,
            m.effect_low,
            m.effect_high,
            esc(&g.sentence)
        );
    }
    s.push_str("</table><div class=\"charts\">");
    s.push_str(&qini_chart(e));
    let pts: Vec<(String, f64, f64, f64)> = e.groups.iter().map(|m| (m.group.to_string(), m.effect, m.effect_low, m.effect_high)).collect();
    s.push_str(&effects_chart("uplift-effects", &pts, u.tree.params.interval_level()));
    s.push_str("</div>");
    s
}

/// The report; `waves` are the model's recorded waves with their effects per group,
/// `uplift` uplift groups measured on a campaign table.
pub fn render(m: &WinbackModel, s: &Scores, p: &Plan, bt: Option<&Backtest>, profiles: &Profiles, waves: &[(WaveSummary, Vec<Effect>)], uplift: Option<(&UpliftModel, &UpliftEvaluation)>) -> String {
    let briefings: String = profiles.groups.iter().map(|g| briefing(m, g.group, &g.profile, s)).collect();
    let mut groups = String::new();
    let mut on_list = vec![0usize; m.segmentation.groups.len() + 1];
    for c in &s.customers {
        on_list[c.group] += 1;
    }
    for g in &m.segmentation.groups {
        // A run of groups sharing one probability (their rates went against the smooth order).
        let pooled = g.pooled_run().map_or(String::new(), |run| {
            format!(" <span title=\"groups {run} share one probability: their own rates went against the order of their smooth chance\">(pooled {run})</span>")
        });
        let _ = write!(
            groups,
            "<tr><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{:.3}{pooled}</td><td>[{:.3}, {:.3}]</td><td>{}</td></tr>",
            g.id,
            on_list[g.id],
            s.group_shares.get(g.id - 1).copied().unwrap_or(0.0) * 100.0,
            g.size,
            g.probability,
            g.low,
            g.high,
            esc(&g.sentence)
        );
    }
    let mut plan = String::new();
    for st in &p.steps {
        let _ = write!(
            plan,
            "<tr><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            st.group, st.probability, st.contacts, st.cum_contacts, st.cum_expected_winbacks, st.cum_cost, st.cum_profit
        );
    }
    let _ = write!(
        plan,
        r#"<tr class="stop"><td colspan="7">stop: {:?} — not contacted: {}, cost saved {:.2}</td></tr>"#,
        p.stop,
        esc(&p.not_contacted()),
        p.cost_saved
    );
    let bt_table = bt.map_or(String::new(), |b| {
        let mut t = String::from("<table><tr><th>cutoff</th><th>method</th><th>AUC</th><th>Brier</th><th>ECE</th><th>capture@60</th></tr>");
        for r in &b.rows {
            for (name, mm) in [("model", Some(&r.model)), ("recency only", Some(&r.recency)), ("RFM", r.rfm.as_ref()), ("BG/NBD", r.btyd.as_ref())] {
                if let Some(mm) = mm {
                    let _ = write!(t, "<tr><td>{}</td><td>{name}</td><td>{:.3}</td><td>{:.4}</td><td>{:.4}</td><td>{:.3}</td></tr>", format_day(r.cutoff), mm.auc, mm.brier, mm.ece, mm.capture_at_60);
                }
            }
        }
        t.push_str("</table>");
        t
    });
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>winback report {at}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; max-width: 1100px; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }}
tr.stop td {{ color: #c0392b; font-weight: 600; }} .charts {{ display: flex; flex-wrap: wrap; gap: 16px; }}
.chart {{ background: #fafafa; border: 1px solid #eee; }}
.profile {{ border-left: 4px solid #2c7be5; padding: 2px 12px; margin: 12px 0; }} .profile h3 {{ font-size: 15px; margin: 6px 0; }}
.desc {{ font-size: 15px; font-style: italic; }} .note {{ color: #777; font-size: 11px; }} ul {{ font-size: 13px; }}
</style></head><body>
<h1>Win-back report — standing at {at}</h1>
<p>Lapse threshold <b>{lapse} days</b>; <b>{scored}</b> lapsed customers scored; model fitted at {fitted} on {rows} rows ({cutoffs} cutoffs), horizon {horizon} days, base rate {base:.3}.</p>
<h2>Gaps between purchases</h2>
<div class="charts">{gaps}</div>
<h2>Groups</h2>
<table><tr><th>group</th><th>on the list</th><th>share of the list</th><th>training rows</th><th>probability</th><th>{level} interval</th><th>rule</th></tr>{groups}</table>{note}
<h2>Group briefings</h2>
<p>Everyone lapsed at {at}: {all_desc}.</p>
{briefings}
<h2>Gains and calibration</h2>
<div class="charts">{gains}{calib}</div>
{bt_table}
<h2>Contact plan</h2>
<table><tr><th>group</th><th>p</th><th>contacts</th><th>cumulative</th><th>expected win-backs</th><th>cost</th><th>profit</th></tr>{plan}</table>
<p id="stop"><b>Where to stop:</b> after group {stop_after} ({stop:?}). Left out: {left_out}; {left_n} customers not contacted, <b>{saved:.2} saved</b>.</p>
{waves}{uplift}
<script>
window.addEventListener("load", function () {{
  var n = 0;
  document.querySelectorAll("svg.chart").forEach(function (svg) {{
    var r = svg.getBoundingClientRect();
    svg.setAttribute("data-rendered-width", Math.round(r.width));
    svg.setAttribute("data-rendered-height", Math.round(r.height));
    svg.setAttribute("data-shapes", svg.querySelectorAll("rect,circle,polyline").length);
    if (r.width > 0 && r.height > 0) n++;
  }});
  document.body.setAttribute("data-charts-rendered", n);
}});
</script>
</body></html>
"##,
        at = format_day(s.at),
        lapse = m.lapse_days,
        scored = s.customers.len(),
        fitted = format_day(m.fitted_at),
        rows = m.training_rows,
        cutoffs = m.training_cutoffs.len(),
        horizon = m.config.horizon_days,
        base = m.segmentation.base_rate,
        gaps = gap_histogram(m),
        note = m.segmentation.note.as_ref().map_or(String::new(), |n| format!("<p><i>Note: {}</i></p>", esc(n))),
        gains = gains_chart(p),
        calib = calibration_chart(bt),
        all_desc = esc(&profiles.all.description),
        stop_after = p.steps.last().map_or("none".to_string(), |st| st.group.to_string()),
        stop = p.stop,
        left_out = if p.skipped.is_empty() {
            "no group".to_string()
        } else {
            p.skipped.iter().map(|x| format!("group {} ({} customers, {:.2} saved, {:?})", x.group, x.customers, x.cost_saved, x.reason)).collect::<Vec<_>>().join(", ")
        },
        left_n = p.skipped.iter().map(|x| x.customers).sum::<usize>(),
        saved = p.cost_saved,
        waves = waves_section(waves, m.segmentation.params.interval_level()),
        level = level_pct(m.segmentation.params.interval_level()),
        uplift = uplift.map_or(String::new(), |(u, e)| uplift_section(u, e)),
    )
}

#[cfg(test)]
mod tests {
    /// Interval labels follow the model's level (a model fitted at 0.8 was labelled 90%).
    #[test]
    fn level_labels() {
        assert_eq!(super::level_pct(0.9), "90%");
        assert_eq!(super::level_pct(0.8), "80%");
        assert_eq!(super::level_pct(0.975), "97.5%");
    }
}
