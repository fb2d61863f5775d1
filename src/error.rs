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
    #[error("model file format version {found} is not supported (this build reads version {supported}; refit the model with this version)")]
    UnsupportedVersion {
        /// Version in the file.
        found: u64,
        /// Version this build reads.
        supported: u32,
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
    /// A feature window must be 1 to 36500 days.
    #[error("feature windows must be between 1 and 36500 days, got {0}")]
    InvalidWindow(i64),
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
    /// Data to score lacks what the model was fitted on.
    #[error("the data does not match the model: {0}")]
    SchemaMismatch(String),
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
}

impl Error {
    /// Whether the error is an invalid parameter (a usage error: the caller passed a
    /// bad value) rather than bad or insufficient data. The CLI maps it to exit
    /// code 2 and the Python package to `WinbackParamError`.
    pub fn is_parameter(&self) -> bool {
        use winback_core::Error as C;
        use winback_rank::Error as R;
        use winback_tree::Error as T;
        match self {
            Error::Core(
                C::InvalidQuantile(_)
                | C::InvalidLapseDays(_)
                | C::InvalidHorizon(_)
                | C::InvalidCutoffCount(_)
                | C::InvalidMaxLevels(_)
                | C::InvalidDateFormat { .. }
                | C::UnknownTimeZone(_),
            ) => true,
            Error::Tree(t) => matches!(
                t,
                T::InvalidGroups(_)
                    | T::InvalidMinGroupSize(_)
                    | T::InvalidMaxGroupShare(_)
                    | T::InvalidMaxDepth(_)
                    | T::InvalidHonestFraction(_)
                    | T::InvalidPriorStrength(_)
                    | T::InvalidIntervalLevel(_)
                    | T::InvalidSampleRows(_)
            ),
            Error::Rank(r) => matches!(
                r,
                R::InvalidCost(_)
                    | R::InvalidMargin(_)
                    | R::InvalidValue(_)
                    | R::InvalidBudget(_)
                    | R::InvalidTarget(_)
                    | R::InvalidMinProbability(_)
                    | R::InvalidMinProfit(_)
                    | R::RoiWithoutCost
            ),
            Error::BacktestCutoffTooLate { .. }
            | Error::InvalidMinHistory(_)
            | Error::InvalidWindow(_)
            | Error::UnknownPriorityFeature { .. } => true,
            _ => false,
        }
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
