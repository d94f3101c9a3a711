//! `ringside check-config` on good and bad configurations: exit codes and the
//! key and reason it names.

use std::path::Path;
use std::process::{Command, Output};

/// Every standard variable the command reads, cleared so the caller's
/// environment cannot change the outcome.
const OTEL_VARS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_RESOURCE_ATTRIBUTES",
];

/// File text, variables set, text the error must contain.
type BadCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

fn check(file: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringside"));
    cmd.arg("check-config").arg("--config").arg(file);
    for v in OTEL_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run ringside")
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn valid_config_prints_the_effective_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ok.toml",
        "[sampling]\nratio = 0.5\n[[exporters]]\nkind = \"otlp\"\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\n\
         [exporters.headers]\nauthorization = \"secret-token\"\n",
    );
    let out = check(
        &file,
        &[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_RESOURCE_ATTRIBUTES", "rack=r1"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sampling.ratio = 0.5\n"), "{stdout}");
    assert!(
        stdout.contains("compression=gzip"),
        "the variable applies: {stdout}"
    );
    assert!(
        stdout.contains("resource.attributes.rack = \"r1\""),
        "{stdout}"
    );
    assert!(stdout.contains("headers=[authorization]"), "{stdout}");
    assert!(
        !stdout.contains("secret-token"),
        "header values stay hidden"
    );
}

#[test]
fn a_key_without_effect_is_valid_and_marked_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "old.toml", "[rings]\npatience_ms = 500\n");
    let out = check(&file, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("rings.patience_ms = 500 (ignored: no effect since ring layout 2"),
        "{stdout}"
    );
}

#[test]
fn bad_configs_exit_2_naming_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let otlp = "[[exporters]]\nkind = \"otlp\"\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\n";
    let cases: &[BadCase] = &[
        (
            "[sampling]\nratio = 1.5\n",
            &[],
            "sampling.ratio: 1.5 is not between 0.0 and 1.0",
        ),
        ("[sampling]\nratio = \"half\"\n", &[], "sampling.ratio"),
        ("[rings]\nbogus = 1\n", &[], "unknown field `bogus`"),
        (
            "[rings]\nmax_per_ring = 0\n",
            &[],
            "rings.max_per_ring: must be at least 1",
        ),
        (
            "[spool]\nsegment_bytes = 1024\n",
            &[],
            "spool.segment_bytes: must be at least 65536",
        ),
        (
            "[rings]\nmax_per_ring = 8192\n[spool]\nsegment_bytes = 1048576\nmax_bytes = 4194304\n",
            &[],
            "rings.max_per_ring: one drain (max_per_ring × 248 bytes) must fit in half a spool segment",
        ),
        (
            "[metrics]\nlisten = \"nowhere\"\n",
            &[],
            "metrics.listen: \"nowhere\" is not an address",
        ),
        ("[log]\nlevel = \"loud\"\n", &[], "log.level"),
        (
            "[sampling.tail]\nenabled = true\nmax_traces = 0\n",
            &[],
            "sampling.tail.max_traces: must be at least 1",
        ),
        (
            "[[exporters]]\nkind = \"otlp\"\nendpoint = \"ftp://x\"\n",
            &[],
            "exporters[0].endpoint",
        ),
        (
            "[[exporters]]\nkind = \"carrier-pigeon\"\n",
            &[],
            "exporters[0].kind: unknown variant `carrier-pigeon`",
        ),
        (
            "[[exporters]]\nkind = \"console\"\n[[exporters]]\nkind = \"jsonl\"\npath = \"/tmp/x\"\nbogus = 1\n",
            &[],
            "exporters[1]: unknown field `bogus`",
        ),
        ("this is not toml", &[], "(file)"),
        (
            otlp,
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            "OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported",
        ),
        (
            "",
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            "",
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
    ];
    for (i, (text, env, expected)) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("bad{i}.toml"), text);
        let out = check(&file, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{text:?}: expected {expected:?} in {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let out = check(&missing, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.toml"));
}
