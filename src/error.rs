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
    #[error("model file format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
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
    #[error("no usable training cutoff before {at}: need lapsed customers at {horizon}-day steps back from it, with 90 days of data before and the whole window before the end of the data")]
    NoTrainingCutoff {
        /// The date we stand at.
        at: String,
        /// The horizon.
        horizon: i64,
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
                R::InvalidCost(_) | R::InvalidMargin(_) | R::InvalidValue(_) | R::InvalidBudget(_) | R::InvalidTarget(_) | R::InvalidMinProbability(_)
            ),
            Error::BacktestCutoffTooLate { .. } => true,
            _ => false,
        }
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
