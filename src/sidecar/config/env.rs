//! The standard OpenTelemetry environment variables, applied over the file's
//! configuration (and under command-line flags).
//!
//! | variable | effect |
//! |---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL; `/v1/traces` is appended |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the traces URL, used as is |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` | `k=v,k=v`, values percent-decoded, merged over the file's |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION` | `gzip` or `none` |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` | `http/protobuf` or `http/json` (`grpc` is refused) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` | request timeout in milliseconds |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` | PEM CA bundle trusted for the collector (`certificate`) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE` | PEM client certificate chain (`client_certificate`) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_KEY` | PEM key of the client certificate (`client_key`) |
//! | `OTEL_TRACES_SAMPLER` (+ `_ARG`) | `always_on`, `always_off`, `traceidratio`, and their `parentbased_` forms |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `k=v,k=v`, percent-decoded, over `[resource.attributes]` |
//!
//! A `TRACES_` variable wins over its generic form. An empty variable counts
//! as unset, as the specification says. The OTLP variables apply to every
//! `otlp` exporter of the file; if there is none and an endpoint variable is
//! set, one is added.
//!
//! `OTEL_SERVICE_NAME`, and `service.name` inside `OTEL_RESOURCE_ATTRIBUTES`,
//! are ignored: the sidecar forwards the spans of many daemons, and each
//! ring's `service.name` is the one its writer gave. A sidecar-wide name
//! would relabel every daemon's spans as one service.

use super::{Config, ConfigError, ExporterConfig, OtlpConfig};

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const SAMPLER: &str = "OTEL_TRACES_SAMPLER";
const SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// Applies the variables that `vars` returns (pass
/// `|k| std::env::var(k).ok()` for the process environment) onto `config`.
/// Errors name the variable and the reason; run [`Config::validate`] after.
pub fn apply_env(
    config: &mut Config,
    vars: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let get = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
    // The traces form wins over the generic one; returns (variable, value).
    let pick = |suffix: &str| {
        let traces = format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}");
        let generic = format!("OTEL_EXPORTER_OTLP_{suffix}");
        get(&traces)
            .map(|v| (traces, v))
            .or_else(|| get(&generic).map(|v| (generic, v)))
    };

    let endpoint = match (get(TRACES_ENDPOINT), get(ENDPOINT)) {
        (Some(url), _) => Some((TRACES_ENDPOINT, url.trim().to_string())),
        (None, Some(base)) => Some((
            ENDPOINT,
            format!("{}/v1/traces", base.trim().trim_end_matches('/')),
        )),
        (None, None) => None,
    };
    if let Some((var, url)) = &endpoint {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(fault(
                var,
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
    }
    let headers = match pick("HEADERS") {
        Some((var, text)) => Some(key_values(&text).map_err(|reason| fault(&var, reason))?),
        None => None,
    };
    let compression = match pick("COMPRESSION") {
        Some((var, v)) => match v.trim() {
            c @ ("gzip" | "none") => Some(c.to_string()),
            other => return Err(fault(&var, format!("{other:?} is not gzip or none"))),
        },
        None => None,
    };
    let protocol = match pick("PROTOCOL") {
        Some((var, v)) => match v.trim() {
            "http/protobuf" => Some("protobuf".to_string()),
            "http/json" => Some("json".to_string()),
            "grpc" => {
                return Err(fault(
                    &var,
                    "grpc is not supported; use http/protobuf or http/json",
                ));
            }
            other => {
                return Err(fault(
                    &var,
                    format!("{other:?} is not http/protobuf or http/json"),
                ));
            }
        },
        None => None,
    };
    let timeout_ms = match pick("TIMEOUT") {
        Some((var, v)) => match v.trim().parse::<u64>() {
            Ok(0) => return Err(fault(&var, "must be at least 1 (milliseconds)")),
            Ok(ms) => Some(ms),
            Err(_) => {
                return Err(fault(
                    &var,
                    format!("{v:?} is not a whole number of milliseconds"),
                ));
            }
        },
        None => None,
    };

    // (setting, variable, path) of the TLS files given by variables.
    let tls_vars: Vec<(&str, String, std::path::PathBuf)> =
        ["certificate", "client_certificate", "client_key"]
            .into_iter()
            .filter_map(|key| {
                let (var, path) = pick(&key.to_ascii_uppercase())?;
                Some((key, var, path.trim().into()))
            })
            .collect();

    if endpoint.is_some()
        && !config
            .exporters
            .iter()
            .any(|e| matches!(e, ExporterConfig::Otlp(_)))
    {
        config
            .exporters
            .push(ExporterConfig::Otlp(OtlpConfig::default()));
    }
    for exporter in &mut config.exporters {
        if let ExporterConfig::Otlp(OtlpConfig {
            endpoint: e,
            protocol: p,
            compression: c,
            headers: h,
            timeout_ms: t,
            certificate,
            client_certificate,
            client_key,
        }) = exporter
        {
            for (key, _, path) in &tls_vars {
                let field = match *key {
                    "certificate" => &mut *certificate,
                    "client_certificate" => &mut *client_certificate,
                    _ => &mut *client_key,
                };
                *field = Some(path.clone());
            }
            if let Some((_, url)) = &endpoint {
                e.clone_from(url);
            }
            if let Some(v) = &protocol {
                p.clone_from(v);
            }
            if let Some(v) = &compression {
                c.clone_from(v);
            }
            if let Some(v) = timeout_ms {
                *t = v;
            }
            for (k, v) in headers.iter().flatten() {
                h.insert(k.clone(), v.clone());
            }
        }
    }
    // A TLS file a variable names is checked here, so the error names the
    // variable; the file's own settings are checked by `Config::validate`.
    if !tls_vars.is_empty() {
        for exporter in &config.exporters {
            if let ExporterConfig::Otlp(o) = exporter {
                if let Err(e) = o.tls_files().load() {
                    if let Some((_, var, _)) = tls_vars.iter().find(|(key, ..)| *key == e.key) {
                        return Err(fault(var, e.reason));
                    }
                }
            }
        }
    }

    if let Some(name) = get(SAMPLER) {
        let arg = get(SAMPLER_ARG);
        let ratio = || match &arg {
            None => Ok(1.0),
            Some(a) => match a.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(fault(
                    SAMPLER_ARG,
                    format!("{a:?} is not a ratio between 0.0 and 1.0"),
                )),
            },
        };
        let (ratio, parent_based) = match name.trim() {
            "always_on" => (1.0, false),
            "always_off" => (0.0, false),
            "traceidratio" => (ratio()?, false),
            "parentbased_always_on" => (1.0, true),
            "parentbased_always_off" => (0.0, true),
            "parentbased_traceidratio" => (ratio()?, true),
            other => {
                return Err(fault(
                    SAMPLER,
                    format!(
                        "{other:?} is not supported; use always_on, always_off, traceidratio, \
                         parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                    ),
                ));
            }
        };
        config.sampling.ratio = ratio;
        config.sampling.parent_based = parent_based;
    }

    if let Some(text) = get(RESOURCE_ATTRIBUTES) {
        for (k, v) in key_values(&text).map_err(|reason| fault(RESOURCE_ATTRIBUTES, reason))? {
            if k != "service.name" {
                config.resource.attributes.insert(k, v);
            }
        }
    }
    Ok(())
}

fn fault(var: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: var.to_string(),
        reason: reason.into(),
    }
}

/// `k=v,k=v` (the W3C Baggage-like list of the OTel variables): keys and
/// values trimmed, values percent-decoded; empty members are skipped.
fn key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for member in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let Some((k, v)) = member.split_once('=') else {
            return Err(format!("{member:?} is not key=value"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{member:?} has an empty key"));
        }
        let v = percent_decode(v.trim()).ok_or_else(|| {
            format!("the value of {k:?} has a bad percent escape or is not UTF-8")
        })?;
        out.push((k.to_string(), v));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; `None` for a broken escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
