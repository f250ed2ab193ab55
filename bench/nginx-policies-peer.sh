#!/usr/bin/env bash
# nginx doing what it can of the router's gateway policies, as bench-peers' EXTRA_CMD (run from
# the harness folder, env PORT, UPSTREAM_URL, WORK_DIR): the harness's own peers/nginx.sh, whose
# config gets bench/nginx/policies-http.conf in place of its `access_log off;` and
# policies-location.conf at the top of `location /` (a key map, a per-key limit_req, a JSON
# access-log line a request) before nginx starts. Nothing else differs from the plain nginx
# measured beside it. What it shows is what that kind of work costs nginx (bench/router.ts).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${WORK_DIR:?WORK_DIR is required}"
nginx_bin="$(command -v nginx)"
mkdir -p "$WORK_DIR/bin"
# peers/nginx.sh ends with `exec nginx ... -c <conf>`: this nginx edits that config, then execs the
# real one (the PID the harness holds stays nginx's)
cat > "$WORK_DIR/bin/nginx" <<SH
#!/usr/bin/env bash
set -euo pipefail
conf=""
prev=""
for a in "\$@"; do [ "\$prev" = -c ] && conf="\$a"; prev="\$a"; done
grep -q 'access_log off;' "\$conf" && grep -q 'location / {' "\$conf" || { echo "nginx-policies-peer: unexpected config \$conf" >&2; exit 1; }
sed -i -e 's|access_log off;|include $here/nginx/policies-http.conf;|' \\
  -e 's|location / {|location / {\n      include $here/nginx/policies-location.conf;|' "\$conf"
exec "$nginx_bin" "\$@"
SH
chmod +x "$WORK_DIR/bin/nginx"
PATH="$WORK_DIR/bin:$PATH" exec bash "${BENCH_PEERS_DIR:-$PWD}/peers/nginx.sh"
