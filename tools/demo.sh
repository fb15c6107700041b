#!/usr/bin/env bash
# Runs liveql on a demo food-ordering database that this script starts itself.
# Installs what is missing, builds (release), starts a throwaway PostgreSQL 15 in
# ${LIVEQL_DEMO_DIR:-/tmp/liveql-demo}, loads tools/demo/{schema,seed}.sql once, and serves
# tools/demo/metadata on port ${PORT:-8080} with the console enabled (open the printed URL).
# Ctrl-C stops liveql; `tools/pg.sh stop DIR` stops the database.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tools/deps.sh
build=build/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target liveql

dir=${LIVEQL_DEMO_DIR:-/tmp/liveql-demo}
url=$(tools/pg.sh start "$dir" liveql_demo)
if ! tools/pg.sh psql "$dir" -Atqc "select to_regclass('public.orders') is not null" | grep -q t; then
  tools/pg.sh psql "$dir" -v ON_ERROR_STOP=1 -q -f tools/demo/schema.sql -f tools/demo/seed.sql
fi

admin_secret=${LIVEQL_ADMIN_SECRET:-demo-admin-secret}
jwt_key=${LIVEQL_DEMO_JWT_KEY:-demo-jwt-key-that-is-at-least-32-bytes-long}
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
header=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)
claims='{"sub":"1","name":"Alice","iat":1767225600,"exp":4102444800,"https://hasura.io/jwt/claims":{"x-hasura-default-role":"user","x-hasura-allowed-roles":["user"],"x-hasura-user-id":"1"}}'
payload=$(printf '%s' "$claims" | b64url)
signature=$(printf '%s' "$header.$payload" | openssl dgst -sha256 -hmac "$jwt_key" -binary | b64url)
jwt="$header.$payload.$signature"
port=${PORT:-8080}

cat <<TXT

liveql demo
  console:      http://127.0.0.1:$port/console   (type the admin secret in its bar)
  database:     $url
  GraphQL:      http://127.0.0.1:$port/v1/graphql   (HTTP and WebSocket)
  admin secret: $admin_secret
  user 1 (Alice) JWT:
    $jwt

Try:
  curl -s http://127.0.0.1:$port/v1/graphql -H 'Authorization: Bearer $jwt' \\
    -d '{"query":"{ orders(order_by: {id: asc}) { id status total items { name quantity } } }"}'
  curl -s http://127.0.0.1:$port/v1/graphql -H 'x-hasura-admin-secret: $admin_secret' \\
    -d '{"query":"{ users { name orders_aggregate { aggregate { count } } } }"}'
Then subscribe (in the console, or with graphql-ws or subscriptions-transport-ws) to
  subscription { orders { id status } }
and change a row:  tools/pg.sh psql $dir -c "update orders set status = 'preparing' where id = 2"
In the console, Analyze shows that subscription's SQL, plan and live plan; the live view shows
its cohort, the tables' live modes (switch one to poll and back) and commit -> push latency.

TXT

exec "$build/server/liveql" serve --database-url "$url" --metadata tools/demo/metadata \
  --port "$port" --admin-secret "$admin_secret" \
  --jwt-secret "{\"type\":\"HS256\",\"key\":\"$jwt_key\"}" \
  --state-dir "$dir/state" --enable-console
