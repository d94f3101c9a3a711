//! The shipped `systemd/ringside.toml` is the built-in default, and names
//! every key, so the two cannot drift.

use ringside_agent::sidecar::config::{Config, ExporterConfig, JsonlConfig, OtlpConfig};

const SHIPPED: &str = include_str!("../systemd/ringside.toml");

/// The built-in default (`rings.dir` is left commented in the file so that
/// `$RINGSIDE_DIR` keeps working; both sides follow it).
fn expected() -> Config {
    Config::default()
}

#[test]
fn shipped_file_equals_the_defaults() {
    let parsed = Config::from_toml(SHIPPED).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed, expected());
}

/// Field names in a value's `Debug` text (`name: value`).
fn field_names(debug: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in debug.match_indices(": ") {
        let word: String = debug[..i]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !word.is_empty() && word.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            names.push(word);
        }
    }
    names
}

/// The file with the exporter examples uncommented.
fn uncommented_examples() -> String {
    let examples = &SHIPPED[SHIPPED.find("# [[exporters]]").expect("exporter examples")..];
    examples
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn shipped_file_names_every_key() {
    let mut config = expected();
    config
        .resource
        .attributes
        .insert("example".into(), "x".into());
    let examples = Config::from_toml(&uncommented_examples()).unwrap_or_else(|e| panic!("{e}"));
    config.exporters = examples.exporters;
    let debug = format!("{config:?}");
    let names = field_names(&debug);
    assert!(names.len() > 30, "Debug text parsed: {names:?}");
    for name in names {
        if name == "example" {
            continue;
        }
        let as_key = SHIPPED.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            let table = l.trim_start_matches('[');
            l.starts_with(&format!("{name} ="))
                || (l.starts_with('[')
                    && (table.starts_with(&format!("{name}]"))
                        || table.starts_with(&format!("{name}."))
                        || l.contains(&format!(".{name}]"))))
        });
        assert!(as_key, "systemd/ringside.toml does not document `{name}`");
    }
}

#[test]
fn exporter_examples_parse_and_validate() {
    let c = Config::from_toml(&uncommented_examples()).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = c.exporters.iter().map(ExporterConfig::name).collect();
    assert_eq!(kinds, ["otlp", "jsonl", "sqlite", "console"]);
    // The examples show each exporter's defaults.
    match &c.exporters[0] {
        ExporterConfig::Otlp(OtlpConfig {
            protocol,
            compression,
            timeout_ms,
            ..
        }) => {
            let d = Config::from_toml(
                "[[exporters]]\nkind = \"otlp\"\nendpoint = \"http://x/v1/traces\"\n",
            )
            .unwrap();
            let ExporterConfig::Otlp(OtlpConfig {
                protocol: p,
                compression: co,
                timeout_ms: t,
                ..
            }) = &d.exporters[0]
            else {
                unreachable!()
            };
            assert_eq!((protocol, compression, timeout_ms), (p, co, t));
        }
        other => panic!("{other:?}"),
    }
    let d = Config::from_toml("[[exporters]]\nkind = \"jsonl\"\npath = \"/x\"\n").unwrap();
    let (
        ExporterConfig::Jsonl(JsonlConfig {
            rotate_bytes: a,
            keep: b,
            ..
        }),
        ExporterConfig::Jsonl(JsonlConfig {
            rotate_bytes: x,
            keep: y,
            ..
        }),
    ) = (&c.exporters[1], &d.exporters[0])
    else {
        panic!("jsonl expected")
    };
    assert_eq!((a, b), (x, y));
}
