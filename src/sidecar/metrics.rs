//! Self-metrics (to be written).
