use std::collections::HashMap;

use super::*;

fn apply(config: &mut Config, vars: &[(&str, &str)]) -> Result<(), ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    apply_env(config, |k| map.get(k).cloned())
}

/// An OTLP exporter's endpoint, protocol, compression, headers, timeout.
type Otlp = (String, String, String, Vec<(String, String)>, u64);

/// Variables set, the variable the error must name, a part of its reason.
type BadCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

fn otlp(config: &Config) -> Vec<Otlp> {
    config
        .exporters
        .iter()
        .filter_map(|e| match e {
            ExporterConfig::Otlp(OtlpConfig {
                endpoint,
                protocol,
                compression,
                headers,
                timeout_ms,
                ..
            }) => Some((
                endpoint.clone(),
                protocol.clone(),
                compression.clone(),
                headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                *timeout_ms,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn no_variables_change_nothing() {
    let mut c = Config::default();
    apply(&mut c, &[]).unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn endpoint_adds_an_exporter_with_v1_traces() {
    let mut c = Config::default();
    apply(&mut c, &[(ENDPOINT, "http://127.0.0.1:4318/")]).unwrap();
    let o = otlp(&c);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0, "http://127.0.0.1:4318/v1/traces");
    assert_eq!(
        (o[0].1.as_str(), o[0].2.as_str(), o[0].4),
        ("protobuf", "none", 10_000)
    );
    c.validate().unwrap();
}

#[test]
fn traces_variables_win_over_generic_ones() {
    let mut c = Config::default();
    apply(
        &mut c,
        &[
            (ENDPOINT, "http://generic:4318"),
            (TRACES_ENDPOINT, "https://traces.example/custom/path"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=generic"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=traces"),
        ],
    )
    .unwrap();
    let o = otlp(&c);
    assert_eq!(o[0].0, "https://traces.example/custom/path", "used as is");
    assert_eq!(
        (o[0].1.as_str(), o[0].2.as_str(), o[0].4),
        ("json", "gzip", 2500)
    );
    assert_eq!(o[0].3, vec![("b".to_string(), "traces".to_string())]);
}

#[test]
fn variables_apply_to_the_files_otlp_exporter() {
    let mut c = Config::from_toml(
        "[[exporters]]\nkind = \"otlp\"\nendpoint = \"http://file:4318/v1/traces\"\n\
         [exporters.headers]\nkeep = \"1\"\nauthorization = \"old\"\n",
    )
    .unwrap();
    apply(
        &mut c,
        &[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Bearer%20abc%3D%3D , x-tenant = t1,,",
        )],
    )
    .unwrap();
    let o = otlp(&c);
    assert_eq!(o.len(), 1, "no second exporter");
    assert_eq!(o[0].0, "http://file:4318/v1/traces");
    let headers: HashMap<_, _> = o[0].3.iter().cloned().collect();
    assert_eq!(headers["Authorization"], "Bearer abc==");
    assert_eq!(headers["x-tenant"], "t1");
    assert_eq!(headers["keep"], "1");
}

#[test]
fn headers_alone_do_not_add_an_exporter() {
    let mut c = Config::default();
    apply(&mut c, &[("OTEL_EXPORTER_OTLP_HEADERS", "a=b")]).unwrap();
    assert!(c.exporters.is_empty());
}

#[test]
fn samplers_map_to_ratio_and_parent_based() {
    let cases = [
        ("always_on", None, 1.0, false),
        ("always_off", None, 0.0, false),
        ("traceidratio", Some("0.25"), 0.25, false),
        ("traceidratio", None, 1.0, false),
        ("parentbased_always_on", None, 1.0, true),
        ("parentbased_always_off", None, 0.0, true),
        ("parentbased_traceidratio", Some("0.1"), 0.1, true),
    ];
    for (name, arg, ratio, parent_based) in cases {
        let mut c = Config::default();
        c.sampling.parent_based = !parent_based;
        let mut vars = vec![(SAMPLER, name)];
        if let Some(a) = arg {
            vars.push((SAMPLER_ARG, a));
        }
        apply(&mut c, &vars).unwrap();
        assert_eq!(
            (c.sampling.ratio, c.sampling.parent_based),
            (ratio, parent_based),
            "{name}"
        );
    }
    // An argument without a sampler is ignored.
    let mut c = Config::default();
    apply(&mut c, &[(SAMPLER_ARG, "0.5")]).unwrap();
    assert_eq!(c.sampling.ratio, 1.0);
}

#[test]
fn resource_attributes_are_decoded_and_service_name_ignored() {
    let mut c = Config::default();
    c.resource
        .attributes
        .insert("deployment.environment".into(), "file".into());
    apply(
        &mut c,
        &[
            (
                RESOURCE_ATTRIBUTES,
                "deployment.environment=prod,rack=r%2F12,service.name=everything",
            ),
            ("OTEL_SERVICE_NAME", "everything"),
        ],
    )
    .unwrap();
    let a = &c.resource.attributes;
    assert_eq!(a["deployment.environment"], "prod");
    assert_eq!(a["rack"], "r/12");
    assert!(!a.contains_key("service.name"));
}

#[test]
fn empty_variables_count_as_unset() {
    let mut c = Config::default();
    apply(
        &mut c,
        &[
            (ENDPOINT, ""),
            (SAMPLER, " "),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", ""),
        ],
    )
    .unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn bad_values_name_the_variable() {
    let cases: &[BadCase] = &[
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc is not supported",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml")],
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "http/protobuf",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")],
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "gzip or none",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")],
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "milliseconds",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", "0")],
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "at least 1",
        ),
        (&[(ENDPOINT, "127.0.0.1:4318")], ENDPOINT, "http://"),
        (&[(TRACES_ENDPOINT, "grpc://x")], TRACES_ENDPOINT, "http://"),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")],
            "OTEL_EXPORTER_OTLP_HEADERS",
            "key=value",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "a=%zz")],
            "OTEL_EXPORTER_OTLP_HEADERS",
            "percent",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "a=%+1")],
            "OTEL_EXPORTER_OTLP_HEADERS",
            "percent",
        ),
        (&[(SAMPLER, "jaeger_remote")], SAMPLER, "not supported"),
        (
            &[(SAMPLER, "traceidratio"), (SAMPLER_ARG, "1.5")],
            SAMPLER_ARG,
            "between 0.0 and 1.0",
        ),
        (
            &[(SAMPLER, "traceidratio"), (SAMPLER_ARG, "half")],
            SAMPLER_ARG,
            "between 0.0 and 1.0",
        ),
        (
            &[(RESOURCE_ATTRIBUTES, "=x")],
            RESOURCE_ATTRIBUTES,
            "empty key",
        ),
    ];
    for (vars, key, reason) in cases {
        let mut c = Config::default();
        let err = apply(&mut c, vars).expect_err(key);
        assert_eq!(err.key, *key);
        assert!(err.reason.contains(reason), "{key}: {}", err.reason);
    }
}
