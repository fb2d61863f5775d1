//! winback
