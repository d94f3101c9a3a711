use super::*;

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(Config::from_toml("").unwrap(), Config::default());
}

#[test]
fn a_key_without_effect_still_loads_and_is_reported() {
    let c = Config::from_toml("[rings]\npatience_ms = 200\n").unwrap();
    assert_eq!(c.ignored_keys(), ["rings.patience_ms"]);
    assert_eq!(
        Config {
            rings: RingsConfig {
                patience_ms: None,
                ..c.rings.clone()
            },
            ..c
        },
        Config::default(),
        "it changes nothing else"
    );
    assert!(Config::default().ignored_keys().is_empty());
}

#[test]
fn faults_name_the_key() {
    let cases = [
        ("[sampling]\nratio = 1.5\n", "sampling.ratio"),
        ("[rings]\nmax_per_ring = 0\n", "rings.max_per_ring"),
        ("[rings]\nbogus = 1\n", "rings"),
        (
            "[[exporters]]\nkind = \"otlp\"\nendpoint = \"ftp://x\"\n",
            "exporters[0].endpoint",
        ),
        (
            "[[exporters]]\nkind = \"console\"\n[[exporters]]\nkind = \"otlp\"\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\nprotocol = \"grpc\"\n",
            "exporters[1].protocol",
        ),
        ("[metrics]\nlisten = \"nowhere\"\n", "metrics.listen"),
        ("[sampling]\nratio = \"half\"\n", "sampling.ratio"),
    ];
    for (text, key) in cases {
        let err = Config::from_toml(text).expect_err(text);
        assert!(
            err.key.starts_with(key),
            "{text:?}: got key {:?} ({})",
            err.key,
            err.reason
        );
    }
}
