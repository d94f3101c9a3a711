//! Attribute names of the client's HTTP span (OpenTelemetry semantic
//! conventions), shared by every tracer the demo runs under.

/// `http.request.method`
pub const HTTP_METHOD: &str = "http.request.method";
/// `http.response.status_code`
pub const HTTP_STATUS: &str = "http.response.status_code";
/// `url.path`
pub const URL_PATH: &str = "url.path";
