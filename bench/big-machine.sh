#!/usr/bin/env bash
# The two checks of docs/benchmarks.md that two shared cores cannot judge, as one script for a
# machine with 16 cores (run from the repository root):
#   1. the gateway against nginx with the load client, the upstream and each proxy on cores of
#      their own (bench/gateway-nginx.ts --pin), where a bare Node proxy meets the p99 budget;
#   2. the real step response: p95 back under the SLO within one cold start plus two decision
#      periods after a step (bench/step-response.ts), where extra replicas add compute.
# It needs what the project installs (node_modules, from npm ci) and Debian's nginx-light: a
# machine that reaches no registry must have both already. Results go to $OUT (or bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results}"
mkdir -p "$out"
node="node_modules/.bin/node"
[ -x "$node" ] || { echo "big-machine: $node is missing; run npm ci first" >&2; exit 1; }
{ echo "cores: $(nproc)"; grep -m1 'model name' /proc/cpuinfo || true; free -g | head -2; } > "$out/machine.txt"
"$node" scripts/make-models.ts --if-missing
echo "1/2 gateway vs nginx, pinned (about 4 min)" >&2
"$node" bench/gateway-nginx.ts --pin --json > "$out/gateway-nginx.json"
echo "2/2 step response (about 2 min)" >&2
"$node" bench/step-response.ts --json > "$out/step-response.json"
echo "big-machine: results in $out" >&2
