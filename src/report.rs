//! The report verb: everything `winback report` shows, computed in one call, so
//! that the command-line program (and any other front end) only renders it.

use winback_core::attributes::Attributes;
use winback_core::date::Day;
use winback_core::profile::Profiles;
use winback_core::progress::{Progress, Unit};
use winback_core::History;
use winback_rank::{Effect, Plan, PlanParams};

use crate::backtest::{backtest, default_cutoffs, Backtest};
use crate::error::Result;
use crate::feedback::WaveSummary;
use crate::model::{Scores, WinbackModel};
use crate::uplift::{UpliftEvaluation, UpliftModel};

/// What a report is asked for.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions<'a> {
    /// The plan's parameters.
    pub plan: PlanParams,
    /// Backtest cutoffs; empty = the two latest whose outcome window is over by
    /// the report's date ([`default_cutoffs`]). None usable: no backtest.
    pub cutoffs: Vec<Day>,
    /// An uplift model and its table (the campaign's arms and outcomes), evaluated
    /// with the traits from the history ([`UpliftModel::evaluate_with_history`]).
    pub uplift: Option<(&'a UpliftModel, &'a Attributes)>,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// The lapsed customers at the report's date, scored.
    pub scores: Scores,
    /// Their plan.
    pub plan: Plan,
    /// The backtest's cutoffs (given or chosen).
    pub cutoffs: Vec<Day>,
    /// The backtest at those cutoffs (`None` when there are none).
    pub backtest: Option<Backtest>,
    /// What each group of the scored list is like.
    pub profiles: Profiles,
    /// Each recorded wave with the effect of contact per group in it.
    pub waves: Vec<(WaveSummary, Vec<Effect>)>,
    /// The uplift model's evaluation, when one was given.
    pub uplift: Option<UpliftEvaluation>,
}

impl WinbackModel {
    /// Computes a report standing at `at`: scores, plan, backtest, group profiles,
    /// the recorded waves with their effects, and an uplift evaluation when asked.
    /// Each step is announced to `progress` (no totals). Errors of any step are
    /// returned; nothing is skipped silently.
    ///
    /// ```
    /// use winback::{Config, ReportOptions, WinbackModel};
    /// use winback::core::lapse::LapseRule;
    /// use winback::core::progress::Silent;
    /// use winback::core::synthetic::{Synthetic, SyntheticConfig};
    ///
    /// let synth = Synthetic::new(SyntheticConfig { customers: 2_000, seed: 1, ..Default::default() });
    /// let (history, _) = synth.history()?;
    /// let at = synth.config().start + 600;
    /// let model = WinbackModel::fit(&history, at, &Config { lapse: LapseRule::Fixed { days: 45 }, ..Default::default() })?;
    /// let report = model.report_data(&history, at, &ReportOptions::default(), &Silent)?;
    /// assert_eq!(report.scores, model.score(&history, at)?);
    /// assert_eq!(report.cutoffs.len(), 2);
    /// assert_eq!(report.backtest.as_ref().map(|b| b.rows.len()), Some(2));
    /// assert!(report.waves.is_empty() && report.uplift.is_none());
    /// # Ok::<(), winback::Error>(())
    /// ```
    pub fn report_data(&self, history: &History, at: Day, options: &ReportOptions<'_>, progress: &dyn Progress) -> Result<ReportData> {
        let step = |what: &str| progress.begin(what, None, Unit::Rows);
        step("scoring");
        let scores = self.score(history, at);
        progress.finish();
        let scores = scores?;
        let (plan, _) = self.plan(&scores, &options.plan)?;
        let cutoffs = if options.cutoffs.is_empty() { default_cutoffs(history, at, &self.config, 2) } else { options.cutoffs.clone() };
        let backtest = if cutoffs.is_empty() {
            None
        } else {
            step("backtesting");
            let b = backtest(history, at, &cutoffs, &self.config);
            progress.finish();
            Some(b?)
        };
        step("profiling");
        let profiles = self.profile_scores(history, &scores);
        progress.finish();
        let waves = self
            .campaign()?
            .into_iter()
            .map(|w| {
                let effects = self.wave_effects(w.wave)?.unwrap_or_default();
                Ok((w, effects))
            })
            .collect::<Result<Vec<_>>>()?;
        let uplift = match options.uplift {
            Some((model, table)) => {
                step("evaluating the uplift model");
                let e = model.evaluate_with_history(table, history);
                progress.finish();
                Some(e?)
            }
            None => None,
        };
        Ok(ReportData { scores, plan, cutoffs, backtest, profiles, waves, uplift })
    }
}
