//! The one error type of `winback-rank`.

/// Everything that can go wrong when planning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No candidate groups.
    #[error("no candidate groups to plan")]
    NoCandidates,
    /// Two candidates share a group id.
    #[error("group {0} appears twice among the candidates")]
    DuplicateGroup(usize),
    /// A probability outside [0, 1] (or an interval that does not contain it).
    #[error("group {group}: probability {probability} with interval [{low}, {high}] is not a probability")]
    InvalidProbability {
        /// Group id.
        group: usize,
        /// Probability.
        probability: f64,
        /// Interval low.
        low: f64,
        /// Interval high.
        high: f64,
    },
    /// A negative or non-finite cost per contact.
    #[error("cost per contact must be a finite number ≥ 0, got {0}")]
    InvalidCost(f64),
    /// A margin outside (0, 1].
    #[error("margin must be in (0, 1], got {0}")]
    InvalidMargin(f64),
    /// A negative or non-finite value per win-back.
    #[error("value per win-back must be a finite number ≥ 0, got {0}")]
    InvalidValue(f64),
    /// A candidate whose mean spend of a returning customer is negative or not finite.
    #[error("group {group}: the mean spend of a returning customer must be a finite number ≥ 0, got {value}")]
    InvalidReturnSpend {
        /// Group id.
        group: usize,
        /// The spend given.
        value: f64,
    },
    /// A negative or non-finite budget.
    #[error("budget must be a finite number ≥ 0, got {0}")]
    InvalidBudget(f64),
    /// A target of win-backs that is not positive.
    #[error("target win-backs must be positive, got {0}")]
    InvalidTarget(f64),
    /// A minimum probability outside [0, 1].
    #[error("minimum probability must be in [0, 1], got {0}")]
    InvalidMinProbability(f64),
    /// A control share outside [0, 0.9].
    #[error("control share must be between 0 and 0.9, got {0}")]
    InvalidControlShare(f64),
    /// A minimum effect outside [-1, 1].
    #[error("minimum effect must be between -1 and 1, got {0}")]
    InvalidMinEffect(f64),
    /// An interval level outside (0, 1).
    #[error("interval level must be in (0, 1), got {0}")]
    InvalidLevel(f64),
    /// A minimum expected profit that is not a finite number.
    #[error("minimum expected profit must be a finite number, got {0}")]
    InvalidMinProfit(f64),
    /// The ROI objective divides by the contact cost: it needs a cost above 0.
    #[error("objective `roi` needs a cost per contact above 0 (ROI divides by it)")]
    RoiWithoutCost,
    /// A budget without a cost per contact would never be spent: refused, not ignored.
    #[error("a budget needs a cost per contact above 0 (with contacts free, it would never stop the plan)")]
    BudgetWithoutCost,
    /// The incremental objective with no group whose effect of contact was measured.
    #[error("objective `incremental` needs a measured effect of contact, and no group has one: record a wave with a control group first (a plan with a control share above 0, then its outcomes with both arms)")]
    NoEffectMeasured,
    /// Feedback about a group that is not a candidate.
    #[error("feedback for unknown group {0}")]
    UnknownGroup(usize),
    /// Feedback with more comebacks than contacts, or more contacts than customers.
    #[error("feedback for group {group}: {came_back} came back of {contacted} contacted (group size {size})")]
    InvalidFeedback {
        /// Group id.
        group: usize,
        /// Contacted.
        contacted: u64,
        /// Came back.
        came_back: u64,
        /// Customers left in the group.
        size: usize,
    },
    /// A customer in the contact list whose group is not a candidate.
    #[error("customer {customer} is in unknown group {group}")]
    UnknownCustomerGroup {
        /// Customer id.
        customer: String,
        /// Group id.
        group: usize,
    },
}

impl Error {
    /// The kind of failure: an invalid plan parameter, or candidates/outcomes that cannot be used.
    pub fn kind(&self) -> winback_stats::ErrorKind {
        match self {
            Error::InvalidCost(_)
            | Error::InvalidMargin(_)
            | Error::InvalidValue(_)
            | Error::InvalidBudget(_)
            | Error::InvalidTarget(_)
            | Error::InvalidMinProbability(_)
            | Error::InvalidMinProfit(_)
            | Error::InvalidControlShare(_)
            | Error::InvalidMinEffect(_)
            | Error::InvalidLevel(_)
            | Error::RoiWithoutCost
            | Error::NoEffectMeasured
            | Error::BudgetWithoutCost => winback_stats::ErrorKind::Parameter,
            _ => winback_stats::ErrorKind::Data,
        }
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
