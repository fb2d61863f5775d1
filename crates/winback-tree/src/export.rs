//! Exports of a segmentation: rules as text, Graphviz DOT, the group table as
//! CSV and JSON, and the whole segmentation as JSON (data only, never code).

use crate::error::Result;
use crate::segmentation::Segmentation;

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.2}"))
}

impl Segmentation {
    /// One line per group: id, probability with interval, size, and the rule.
    pub fn rules_text(&self) -> String {
        let mut s = String::new();
        for g in &self.groups {
            s.push_str(&format!(
                "group {:>2}: p={:.3} [{:.3}, {:.3}]  n={:<7} {}\n",
                g.id, g.probability, g.low, g.high, g.size, g.sentence
            ));
            for c in &g.rule {
                s.push_str(&format!("           {}\n", c.formula()));
            }
        }
        if let Some(n) = &self.note {
            s.push_str(&format!("note: {n}\n"));
        }
        s
    }

    /// The tree in Graphviz DOT; leaves show group, probability and size.
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph segmentation {\n  node [shape=box, fontname=\"Helvetica\"];\n");
        for (i, n) in self.nodes.iter().enumerate() {
            match (n.split, n.group.and_then(|g| self.group(g))) {
                (Some((f, t, l, r)), _) => {
                    let name = self.features.get(f).map_or("?", |f| f.name.as_str()).replace('"', "'");
                    s.push_str(&format!("  n{i} [label=\"{name} < {t}\\n{} rows\"];\n", n.rows));
                    s.push_str(&format!("  n{i} -> n{l} [label=\"yes\"];\n  n{i} -> n{r} [label=\"no\"];\n"));
                }
                (None, Some(g)) => {
                    s.push_str(&format!(
                        "  n{i} [label=\"group {}\\np = {:.3} [{:.3}, {:.3}]\\n{} customers\", style=filled, fillcolor=\"#e8f0fe\"];\n",
                        g.id, g.probability, g.low, g.high, g.size
                    ));
                }
                (None, None) => s.push_str(&format!("  n{i} [label=\"leaf\"];\n")),
            }
        }
        s.push_str("}\n");
        s
    }

    /// The group table as CSV, one row per group by id.
    pub fn groups_csv(&self) -> String {
        let mut s = String::from("group,size,share,came_back,observed_rate,honest_size,honest_came_back,probability,probability_low,probability_high,mean_past_spend,mean_return_spend,order_score,pooled,rule\n");
        for g in &self.groups {
            s.push_str(&format!(
                "{},{},{:.4},{},{:.4},{},{},{:.4},{:.4},{:.4},{},{},{},{},{}\n",
                g.id,
                g.size,
                g.share,
                g.came_back,
                g.observed_rate,
                g.honest_size,
                g.honest_came_back,
                g.probability,
                g.low,
                g.high,
                opt(g.mean_past_spend),
                opt(g.mean_return_spend),
                g.order_score.map_or(String::new(), |v| format!("{v:.4}")),
                g.pooled_run().unwrap_or_default(),
                csv_field(&g.sentence)
            ));
        }
        s
    }

    /// The group table as JSON (an array of groups).
    pub fn groups_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(&self.groups)?)
    }

    /// The whole segmentation as JSON. Thresholds round-trip exactly.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// Reads a segmentation written by [`Segmentation::to_json`].
    pub fn from_json(s: &str) -> Result<Segmentation> {
        let seg: Segmentation = serde_json::from_str(s)?;
        seg.validate()?;
        Ok(seg)
    }
}
