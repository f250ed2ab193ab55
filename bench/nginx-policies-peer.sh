#!/usr/bin/env bash
# nginx doing what it can of the router's gateway policies, as bench-peers' EXTRA_CMD (env PORT,
# UPSTREAM_URL, WORK_DIR from run.sh): bench-peers' own nginx settings (peers/nginx.sh) with
# bench/nginx/policies-http.conf and policies-location.conf included (a key map, a per-key
# limit_req, a JSON access-log line a request). What it shows is what that kind of work costs
# nginx, beside the router's figures with its policies (bench/router.ts).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${PORT:?PORT is required}" "${UPSTREAM_URL:?UPSTREAM_URL is required}"
WORK_DIR="${WORK_DIR:-$(mktemp -d -t bench-nginx-policies.XXXXXX)}"
mkdir -p "$WORK_DIR"/{logs,tmp}
chmod 755 "$WORK_DIR" "$WORK_DIR/tmp"   # the worker runs as nobody
up_hostport="${UPSTREAM_URL#http://}"; up_hostport="${up_hostport%%/*}"
cat > "$WORK_DIR/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes ${NGINX_WORKERS:-1};
pid $WORK_DIR/nginx.pid;
error_log stderr warn;
events {
  worker_connections 8192;
  multi_accept on;
}
http {
  client_body_temp_path $WORK_DIR/tmp/client_body;
  proxy_temp_path       $WORK_DIR/tmp/proxy;
  fastcgi_temp_path     $WORK_DIR/tmp/fastcgi;
  uwsgi_temp_path       $WORK_DIR/tmp/uwsgi;
  scgi_temp_path        $WORK_DIR/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_buffer_size 64k;
  include $here/nginx/policies-http.conf;
  upstream llm_backend {
    server $up_hostport;
    keepalive 256;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:$PORT backlog=4096;
    location / {
      include $here/nginx/policies-location.conf;
      proxy_pass http://llm_backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_buffering off;
      proxy_request_buffering on;
      proxy_cache off;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }
  }
}
CONF
exec nginx -p "$WORK_DIR" -e stderr -c "$WORK_DIR/nginx.conf"
