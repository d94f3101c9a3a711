//! Standard variables (to be written).
