//! The one error type of the facade.

/// Everything that can go wrong in the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or preparing the history failed.
    #[error(transparent)]
    Core(#[from] winback_core::Error),
    /// Fitting or applying the segmentation failed.
    #[error(transparent)]
    Tree(#[from] winback_tree::Error),
    /// Planning failed.
    #[error(transparent)]
    Rank(#[from] winback_rank::Error),
    /// A model file of another format version.
    #[error("{path}: model file format version {found} is not supported (this build reads {}; refit the model with this version)", versions(*.oldest, *.supported))]
    UnsupportedVersion {
        /// The file.
        path: String,
        /// Version in the file.
        found: u64,
        /// The newest version this build reads (and writes).
        supported: u32,
        /// The oldest version this build reads.
        oldest: u32,
    },
    /// A model file that is not a winback model.
    #[error("{path}: not a winback model file: {message}")]
    BadModelFile {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A model file with a field that is missing, of the wrong type, out of range
    /// or inconsistent with the rest of the model.
    #[error("{path}: invalid model file: field `{field}`: {message}")]
    InvalidModel {
        /// The file.
        path: String,
        /// The field, as a path (`segmentation.groups[2].probability`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The minimum history before a training cutoff must be 1 to 36500 days.
    #[error("minimum history before a training cutoff must be between 1 and 36500 days, got {0}")]
    InvalidMinHistory(i64),
    /// The weight of older training cutoffs must lie in [0, 1].
    #[error("recent_weight (the weight of each older training cutoff) must be between 0 and 1, got {0}")]
    InvalidRecentWeight(f64),
    /// Smoothed splits with customers held out (see [`crate::SplitOn::Smoothed`]).
    #[error("split_on = smoothed needs every training row to estimate the groups (honest fraction 0), got an honest fraction of {0}: the smoother would see the held-out customers' outcomes")]
    SmoothedWithHoldout(f64),
    /// A feature window must be 1 to 36500 days.
    #[error("feature windows must be between 1 and 36500 days, got {0}")]
    InvalidWindow(i64),
    /// An uplift plan given a cost per contact but no value per win-back: an uplift
    /// model knows no spend, so every group would be unprofitable.
    #[error("an uplift plan with a cost per contact needs a value per win-back (value_per_winback, CLI --value-per-winback): an uplift model knows no spend, so without it every group is unprofitable and nobody is contacted")]
    UpliftCostWithoutValue,
    /// An uplift plan where no group has held-out customers in both arms: no effect
    /// of contact was measured, so nothing can be planned by it.
    #[error("no uplift group has held-out customers in both arms, so no effect of contact was measured: fit the uplift model on a campaign table with both arms in every group, or hold out more of it (honest fraction)")]
    UpliftNoMeasuredEffect,
    /// The priority feature is not a feature of the schema.
    #[error("priority feature {name:?} is not a feature (available: {available})")]
    UnknownPriorityFeature {
        /// The name given.
        name: String,
        /// The features there are, comma separated.
        available: String,
    },
    /// The same outcomes were already recorded into the model.
    #[error("{file}: these outcomes were already recorded into the model (wave {wave}); a wave is recorded once")]
    WaveAlreadyRecorded {
        /// The outcomes file.
        file: String,
        /// The wave that recorded them (1-based).
        wave: usize,
    },
    /// Outcomes in which nobody was contacted (no row, every count 0, or a control arm only).
    #[error("{file}: nobody was contacted in these outcomes (no row, every `contacted` is 0, or a control arm only): there is no wave to record")]
    EmptyWave {
        /// The outcomes file.
        file: String,
    },
    /// The outcomes name a group the model does not have.
    #[error("{file}: group {group} is not a group of the model (it has groups 1 to {groups})")]
    UnknownOutcomeGroup {
        /// The outcomes file.
        file: String,
        /// The group named.
        group: usize,
        /// The model's number of groups.
        groups: usize,
    },
    /// A customer of the outcomes was contacted in an earlier recorded wave.
    #[error("{file}: customer {customer:?} was already contacted in wave {wave}")]
    AlreadyContacted {
        /// The outcomes file.
        file: String,
        /// The customer id.
        customer: String,
        /// The earlier wave (1-based).
        wave: usize,
    },
    /// A customer held out in the outcomes was held out in an earlier recorded wave.
    #[error("{file}: customer {customer:?} was already held out as a control in wave {wave}: a control customer is measured once (plans after that wave never hold them out again)")]
    AlreadyHeldOut {
        /// The outcomes file.
        file: String,
        /// The customer id.
        customer: String,
        /// The earlier wave (1-based).
        wave: usize,
    },
    /// More contacts in a group than are left of it after the recorded waves.
    #[error("{file}: group {group}: {contacted} contacted, but only {left} of its customers are left after the recorded waves")]
    ContactsExceedGroup {
        /// The outcomes file.
        file: String,
        /// The group.
        group: usize,
        /// Contacts claimed.
        contacted: u64,
        /// Customers left.
        left: usize,
    },
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A Parquet file given to a build without the `parquet` feature.
    #[error("{path}: this build has no Parquet support (feature `parquet`)")]
    NoParquetSupport {
        /// The file.
        path: String,
    },
    /// No training cutoff has both history before it and known labels.
    #[error("no usable training cutoff before {at}: need lapsed customers at {horizon}-day steps back from it, with {min_history} days of data before and the whole window before the end of the data ({why})")]
    NoTrainingCutoff {
        /// The date we stand at.
        at: String,
        /// The horizon.
        horizon: i64,
        /// The minimum days of data before a cutoff.
        min_history: i64,
        /// Each cutoff tried and why it was left out.
        why: String,
    },
    /// No lapsed customer at the date.
    #[error("no lapsed customer at {0}")]
    NobodyLapsed(String),
    /// A backtest cutoff whose outcome window is not over at the date we stand at.
    #[error("backtest cutoff {cutoff}: its {horizon}-day window ends after {at}")]
    BacktestCutoffTooLate {
        /// The cutoff.
        cutoff: String,
        /// The horizon.
        horizon: i64,
        /// The date we stand at.
        at: String,
    },
    /// A backtest cutoff given twice (its row would be printed twice).
    #[error("backtest cutoff {0} is given twice")]
    RepeatedBacktestCutoff(String),
    /// An outcome window that runs past the end of the data: its labels would be
    /// partly unobserved and biased low.
    #[error("cutoff {cutoff}: its {horizon}-day window runs past the end of the data ({data_end})")]
    WindowPastData {
        /// The cutoff.
        cutoff: String,
        /// The horizon.
        horizon: i64,
        /// The last day with data.
        data_end: String,
    },
    /// A bad row in an outcomes (feedback) file.
    #[error("{file}, line {line}, column `{column}`: {message} (value {value:?})")]
    BadOutcome {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// Column.
        column: String,
        /// Value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A scored customer in a group the model does not have.
    #[error("customer {customer:?} is in group {group}, the model has groups 1 to {groups}")]
    UnknownGroup {
        /// The customer id.
        customer: String,
        /// The group given.
        group: usize,
        /// The model's number of groups.
        groups: usize,
    },
    /// A campaign table's arm or outcome column is missing or its values do not fit.
    #[error("campaign table, column `{column}`: {message}")]
    CampaignColumn {
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A value of a campaign table that cannot be used.
    #[error("campaign table, customer {customer:?}, column `{column}`: {message} (value {value:?})")]
    BadCampaignValue {
        /// The row's customer id.
        customer: String,
        /// The column.
        column: String,
        /// The value.
        value: String,
        /// What was expected.
        message: String,
    },
    /// Shards that do not fit together (different cutoffs, a customer in two shards).
    #[error("shards do not fit together: {message}")]
    ShardMismatch {
        /// What differs.
        message: String,
    },
}

impl Error {
    /// The kind of failure, from the crate the error came from: an invalid
    /// parameter (CLI exit code 2, Python `WinbackParamError`), bad data, or a
    /// file that could not be accessed.
    pub fn kind(&self) -> winback_stats::ErrorKind {
        use winback_stats::ErrorKind as K;
        match self {
            Error::Core(e) => e.kind(),
            Error::Tree(e) => e.kind(),
            Error::Rank(e) => e.kind(),
            Error::Io { .. } => K::Io,
            Error::BacktestCutoffTooLate { .. }
            | Error::RepeatedBacktestCutoff(_)
            | Error::InvalidMinHistory(_)
            | Error::InvalidRecentWeight(_)
            | Error::SmoothedWithHoldout(_)
            | Error::InvalidWindow(_)
            | Error::UnknownPriorityFeature { .. }
            | Error::UpliftCostWithoutValue
            | Error::UpliftNoMeasuredEffect
            | Error::CampaignColumn { .. }
            | Error::NoParquetSupport { .. } => K::Parameter,
            _ => K::Data,
        }
    }

    /// Whether the error is an invalid parameter (see [`Error::kind`]).
    pub fn is_parameter(&self) -> bool {
        self.kind() == winback_stats::ErrorKind::Parameter
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// "version 2", or "versions 2 to 3".
fn versions(oldest: u32, newest: u32) -> String {
    if oldest >= newest {
        format!("version {newest}")
    } else {
        format!("versions {oldest} to {newest}")
    }
}
