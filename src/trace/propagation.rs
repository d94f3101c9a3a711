//! W3C Trace Context propagation (to be written).
