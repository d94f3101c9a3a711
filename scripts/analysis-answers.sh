#!/bin/sh
# Runs the analysis commands with many filters against one input and writes
# each answer (stdout, exit status) to a file of OUTDIR, so the answers of two
# ringside builds can be compared with `diff -r`.
#
#   scripts/analysis-answers.sh RINGSIDE STORE JSONL OUTDIR
#
# STORE and JSONL hold the same spans (examples/gen_store.rs writes both).
# tests/analysis_answers.rs checks the current build against answers captured
# this way from the build before the streaming rewrite.
set -eu
bin=$1 store=$2 jsonl=$3 out=$4
mkdir -p "$out"
w="--since 2025-10-09T08:53:22Z --until 2025-10-09T08:53:25Z"
run() { # name, input flag, args...
    name=$1 input=$2; shift 2
    set +e
    "$bin" "$@" $input >"$out/$name.out" 2>/dev/null
    echo "exit $?" >>"$out/$name.out"
    set -e
}
for src in store jsonl; do
    if [ $src = store ]; then input="--store $store"; else input="--jsonl $jsonl"; fi
    run $src-stats "$input" stats --json
    run $src-stats-window "$input" stats --json $w
    run $src-stats-service "$input" stats --json --service osd
    run $src-stats-group "$input" stats --json --group-by target.node
    run $src-stats-table "$input" stats --group-by target.node
    run $src-search "$input" search --json
    run $src-search-window "$input" search --json $w --limit 50
    run $src-search-oldest "$input" search --json --sort oldest --limit 30
    run $src-search-longest "$input" search --json --sort longest --limit 30
    run $src-search-shortest "$input" search --json --sort shortest --limit 30
    run $src-search-most "$input" search --json --sort most-spans --limit 30
    run $src-search-error "$input" search --json --status error --limit 100
    run $src-search-ok "$input" search --json --status ok --service gateway --limit 10
    run $src-search-name "$input" search --json --name 'disk read' --min-duration 10ms --limit 100
    run $src-search-attr "$input" search --json --attr file.path=/pool/obj7 --attr bytes=32768 --limit 100
    run $src-search-none "$input" search --json --service nosuch
    run $src-search-table "$input" search --sort longest --limit 5
    run $src-bottlenecks "$input" bottlenecks --json
    run $src-bottlenecks-window "$input" bottlenecks --json --min-samples 10 $w
    run $src-bottlenecks-table "$input" bottlenecks
    "$bin" search $input --sort longest --limit 3 --json |
        sed -n 's/.*"trace_id": "\([0-9a-f]*\)".*/\1/p' >"$out/$src-ids"
    i=0
    for id in $(cat "$out/$src-ids"); do
        run $src-trace-$i "$input" trace "$id" --json
        run $src-trace-table-$i "$input" trace "$id" --all-attrs
        run $src-critical-path-$i "$input" critical-path "$id" --json
        run $src-timeline-$i "$input" timeline "$id" --out "$out/$src-timeline-$i.svg"
        i=$((i + 1))
    done
    run $src-trace-missing "$input" trace 0123456789abcdef0123456789abcdef --json
    run $src-report "$input" report --out "$out/$src-report.html"
    run $src-report-window "$input" report --out "$out/$src-report-window.html" $w --slowest 3
    # The report names its source: the same answer from another path.
    sed -i "s|$store|STORE|g; s|$jsonl|JSONL|g" "$out"/$src-report*.html
done
