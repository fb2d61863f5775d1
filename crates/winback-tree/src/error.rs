//! The one error type of `winback-tree`.

/// Everything that can go wrong when segmenting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The number of groups must be at least 2.
    #[error("number of groups must be at least 2, got {0}")]
    InvalidGroups(usize),
    /// A minimum group size of zero rows, or a share outside (0, 0.5].
    #[error("minimum group size must be at least 1 row or a share in (0, 0.5], got {0}")]
    InvalidMinGroupSize(String),
    /// The maximum share of one group must lie in (0, 1].
    #[error("maximum share of one group must be in (0, 1], got {0}")]
    InvalidMaxGroupShare(f64),
    /// The maximum depth must be at least 1.
    #[error("maximum depth must be at least 1, got {0}")]
    InvalidMaxDepth(usize),
    /// The honest (held-out) fraction must lie in [0, 0.9].
    #[error("honest fraction must be in [0, 0.9], got {0}")]
    InvalidHonestFraction(f64),
    /// Restarts compare trees on their held-out customers: they need some.
    #[error("restarts ({0}) compare trees on held-out customers: set an honest fraction above 0")]
    RestartsWithoutHoldout(usize),
    /// An uplift tree estimates effects on held-out customers only.
    #[error("an uplift tree estimates each group's effect on held-out customers: the honest fraction must be above 0, got {0}")]
    UpliftWithoutHoldout(f64),
    /// The prior strength must be positive and finite.
    #[error("prior strength must be positive, got {0}")]
    InvalidPriorStrength(f64),
    /// The interval level must lie in (0, 1).
    #[error("interval level must be in (0, 1), got {0}")]
    InvalidIntervalLevel(f64),
    /// The per-node sample size must be at least 100 rows.
    #[error("rows sampled per split must be at least 100, got {0}")]
    InvalidSampleRows(usize),
    /// The number of honest splits tried must lie in 1..=64.
    #[error("restarts (honest splits tried) must be between 1 and 64, got {0}")]
    InvalidRestarts(usize),
    /// Features and labels disagree on the number of rows.
    #[error("{what} has {got} rows, the feature matrix {rows}")]
    RowMismatch {
        /// Which input.
        what: &'static str,
        /// Rows of the feature matrix.
        rows: usize,
        /// Rows of the other input.
        got: usize,
    },
    /// A row weight that is negative or not finite, or weights that sum to 0.
    #[error("row weights must be finite, at least 0 and not all 0 (row {row}: {value})")]
    BadWeight {
        /// 0-based row.
        row: usize,
        /// The weight.
        value: f64,
    },
    /// A smoothed target or order score outside [0, 1] or not finite.
    #[error("{what} must be chances in [0, 1] (row {row}: {value})")]
    BadTarget {
        /// "smoothed targets" or "order scores".
        what: &'static str,
        /// 0-based row.
        row: usize,
        /// The target.
        value: f64,
    },
    /// The feature matrix does not have the schema's columns.
    #[error("feature matrix has {got} columns, the schema {expected}")]
    ColumnMismatch {
        /// Columns in the schema.
        expected: usize,
        /// Columns given.
        got: usize,
    },
    /// A NaN or infinite feature value.
    #[error("feature `{column}` of row {row} is not finite ({value})")]
    NonFinite {
        /// 0-based row.
        row: usize,
        /// Feature name.
        column: String,
        /// The value.
        value: f64,
    },
    /// Nothing to fit on.
    #[error("no training rows")]
    Empty,
    /// An uplift tree needs contacted and control rows.
    #[error("an uplift tree needs both arms: {contacted} contacted and {control} control rows")]
    OneArm {
        /// Contacted rows.
        contacted: usize,
        /// Control rows.
        control: usize,
    },
    /// The model file could not be parsed.
    #[error("invalid segmentation JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A segmentation (read from a file) whose structure is not sound.
    #[error("invalid segmentation: {0}")]
    InvalidSegmentation(String),
    /// linfa-trees refused a fit.
    #[error("linfa-trees: {0}")]
    Linfa(String),
}

impl Error {
    /// The kind of failure: an invalid parameter, or data (including a model file) that cannot be used.
    pub fn kind(&self) -> winback_stats::ErrorKind {
        match self {
            Error::InvalidGroups(_)
            | Error::InvalidMinGroupSize(_)
            | Error::InvalidMaxGroupShare(_)
            | Error::InvalidMaxDepth(_)
            | Error::InvalidHonestFraction(_)
            | Error::InvalidPriorStrength(_)
            | Error::InvalidIntervalLevel(_)
            | Error::InvalidSampleRows(_)
            | Error::InvalidRestarts(_)
            | Error::RestartsWithoutHoldout(_)
            | Error::UpliftWithoutHoldout(_) => winback_stats::ErrorKind::Parameter,
            _ => winback_stats::ErrorKind::Data,
        }
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
