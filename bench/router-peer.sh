#!/usr/bin/env bash
# The router as bench-peers' EXTRA_CMD: one static backend ($UPSTREAM_URL) serving "bench-model"
# (the model wrk/chat.lua asks for), metrics and request ids on as always. Env from run.sh: PORT,
# HOST, UPSTREAM_URL, WORK_DIR. With ROUTER_POLICIES=1 every gateway policy is on as well: API
# keys (the harness's "Bearer sk-bench-dummy" is a key in the keys file), rate limits high enough
# never to refuse (every request still takes and settles its buckets), usage records to SQLite.
# ROUTER_POLICIES may also name the policies to turn on, comma-separated, API keys always among
# them ("keys", "keys,limits", "keys,usage"; "1" is "keys,limits,usage"): what each one costs.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
hostport="${UPSTREAM_URL#http://}"
cat > "$WORK_DIR/router-services.json" <<JSON
{"services":[{"name":"upstream","host":"${hostport%:*}","port":${hostport##*:},"metadata":{"type":"openai-api","models":["${BENCH_MODEL:-bench-model}"],"health_check":false}}]}
JSON
args=(--host "$HOST" --router-port "$PORT" --static-services "$WORK_DIR/router-services.json")
policies="${ROUTER_POLICIES:-0}"
[ "$policies" = 1 ] && policies=keys,limits,usage
has() { case ",$policies," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
if [ "$policies" != 0 ]; then
  hash=$(printf %s "sk-bench-dummy" | sha256sum | cut -d' ' -f1)
  cat > "$WORK_DIR/auth.yaml" <<YAML
version: 1
keys:
  - name: bench
    sha256: $hash
    models: "*"
YAML
  cat > "$WORK_DIR/routing.yaml" <<YAML
keysFile: $WORK_DIR/auth.yaml
YAML
  if has usage; then echo "dataDir: $WORK_DIR/router-data" >> "$WORK_DIR/routing.yaml"; fi
  if has limits; then
    cat >> "$WORK_DIR/routing.yaml" <<YAML
rateLimits:
  defaults:
    key: { rpm: 100000000, tpm: 100000000000 }
  models:
    ${BENCH_MODEL:-bench-model}: { rpm: 100000000, tpm: 100000000000 }
YAML
  fi
  args+=(--config "$WORK_DIR/routing.yaml")
fi
# run through the launcher as `npx switchboard router` does: its shebang carries the Node flags
# (core NODE_FLAGS) a switchboard process runs with. ROUTER_EXEC, when set, is the command that runs
# the launcher instead (bench/instructions.ts: valgrind and node with those flags).
# shellcheck disable=SC2086
SWITCHBOARD_LOG_LEVEL=warn exec ${ROUTER_EXEC:-} "$here/bin/switchboard.js" router "${args[@]}" ${ROUTER_ARGS:-}
