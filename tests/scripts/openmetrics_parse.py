"""Parse OpenMetrics text from stdin with the Prometheus project's own parser
(prometheus_client.openmetrics.parser, strict: it refuses what Prometheus would)
and print every sample as JSON: [{"family", "type", "unit", "name", "labels", "value"}].
Exit 1 with the parser's message on invalid input."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

try:
    samples = [
        {"family": f.name, "type": f.type, "unit": f.unit, "name": s.name, "labels": s.labels, "value": s.value}
        for f in text_string_to_metric_families(sys.stdin.read())
        for s in f.samples
    ]
except ValueError as e:
    print(f"invalid OpenMetrics: {e}", file=sys.stderr)
    sys.exit(1)
json.dump(samples, sys.stdout)
