//! The README's code blocks for `tracing`, Go and Python are compiled or run
//! by tests:
//! each block must appear, line for line (indentation aside), in a tested
//! file: `tracing/README.md`, whose blocks are `ringside-tracing`'s doc tests,
//! `go/ringside/example_test.go`, which `go test` runs (tests/go_sidecar.rs),
//! or `python/tests/readme_example.py`, which tests/python_sidecar.rs runs.

use std::path::Path;

fn read(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text of the section under `heading` up to the next heading.
fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no heading {heading:?}"));
    let body = &readme[start + heading.len()..];
    let end = body.find("\n#").unwrap_or(body.len());
    &body[..end]
}

/// The lines of each fenced block whose info string starts with `lang`.
fn blocks(text: &str, lang: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        let t = line.trim();
        match current.as_mut() {
            None if t.starts_with("```") && t[3..].starts_with(lang) => current = Some(Vec::new()),
            Some(_) if t == "```" => out.push(current.take().unwrap()),
            Some(lines) if !t.is_empty() => lines.push(t.to_string()),
            _ => {}
        }
    }
    out
}

/// True when `needle` appears as consecutive non-blank lines of `hay`.
fn contains_lines(hay: &str, needle: &[String]) -> bool {
    let hay: Vec<&str> = hay
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    hay.windows(needle.len())
        .any(|w| w.iter().zip(needle).all(|(a, b)| a == b))
}

fn check(heading: &str, lang: &str, tested: &str) {
    let readme = read("README.md");
    let tested_text = read(tested);
    let found = blocks(section(&readme, heading), lang);
    assert!(!found.is_empty(), "no {lang} block under {heading:?}");
    for block in found {
        assert!(
            contains_lines(&tested_text, &block),
            "this README block under {heading:?} is not in {tested}:\n{}",
            block.join("\n")
        );
    }
}

#[test]
fn readme_tracing_blocks_are_doc_tests_of_ringside_tracing() {
    check(
        "### Already on `tracing`? Add one line",
        "rust",
        "tracing/README.md",
    );
}

#[test]
fn readme_go_blocks_are_in_the_go_example_test() {
    check("### Go through cgo", "go", "go/ringside/example_test.go");
}

#[test]
fn readme_python_blocks_are_in_the_example_python_sidecar_runs() {
    check("### Python", "python", "python/tests/readme_example.py");
}

#[test]
fn a_changed_block_is_caught() {
    let tested = "fn main() {\n    let a = 1;\n    let b = 2;\n}\n";
    let same = blocks("```rust\nlet a = 1;\n  let b = 2;\n```\n", "rust");
    let changed = blocks("```rust\nlet a = 1;\nlet b = 3;\n```\n", "rust");
    assert!(contains_lines(tested, &same[0]));
    assert!(!contains_lines(tested, &changed[0]));
}
