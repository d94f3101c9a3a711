"""Parses a /metrics page (stdin) with prometheus_client's own parsers and
prints its samples as JSON lines. argv[1] is "openmetrics" or "text"."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as text

page = sys.stdin.read()
parse = openmetrics if sys.argv[1] == "openmetrics" else text
for family in parse(page):
    for s in family.samples:
        x = s.exemplar
        print(json.dumps({
            "family": family.name,
            "type": family.type,
            "name": s.name,
            "labels": s.labels,
            "value": s.value,
            "exemplar": None if x is None else {
                "labels": x.labels, "value": x.value,
                "timestamp": None if x.timestamp is None else float(x.timestamp),
            },
        }))
