#!/usr/bin/env bash
# The router as bench-peers' EXTRA_CMD: one static backend ($UPSTREAM_URL) serving model "bench-model"
# (the model wrk/chat.lua asks for), metrics and request ids on as always. Env from run.sh: PORT,
# HOST, UPSTREAM_URL, WORK_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
hostport="${UPSTREAM_URL#http://}"
cat > "$WORK_DIR/router-services.json" <<JSON
{"services":[{"name":"upstream","host":"${hostport%:*}","port":${hostport##*:},"metadata":{"type":"openai-api","models":["${BENCH_MODEL:-bench-model}"],"health_check":false}}]}
JSON
SWITCHBOARD_LOG_LEVEL=warn exec node "$here/dist/src/cli/main.js" router --host "$HOST" --router-port "$PORT" --static-services "$WORK_DIR/router-services.json" ${ROUTER_ARGS:-}
