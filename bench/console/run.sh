#!/usr/bin/env bash
# The console under load (issue 5): the dashboard and filtered list pages over
# HTTP, 20 concurrent users (wrk), on PostgreSQL with 1M persons and 300k
# cases. The peer is the database itself: the same list queries straight to
# PostgreSQL with 20 clients (pgbench), the floor any page over them can reach.
#
#   bench/console/run.sh            # builds the release binary, reuses the database if present
#   FRESH=1 bench/console/run.sh    # rebuilds the database
set -euo pipefail
cd "$(dirname "$0")/../.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=closedloop_console_bench
URL="$PG/$DB"
PERSONS=${PERSONS:-1000000}
CASES=${CASES:-300000}
DURATION=${DURATION:-15s}
PORT=${PORT:-18090}
cargo build --release -q -p closedloop-cli
BIN=${CARGO_TARGET_DIR:-target}/release/closedloop

if [[ -n "${FRESH:-}" ]] || ! psql "$URL" -Atc "SELECT 1 FROM cases WHERE case_id = 'BENCH-3'" 2>/dev/null | grep -q 1; then
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  echo "== demo province, then grown to $PERSONS persons and $CASES cases =="
  "$BIN" demo --no-serve --database-url "$URL" >/dev/null   # the demo fills an empty PostgreSQL database
  time psql "$URL" -q -v persons="$PERSONS" -v cases="$CASES" -f bench/console/grow.sql
fi
psql "$URL" -Atc "SELECT 'persons ' || (SELECT count(*) FROM persons) || ', cases ' || (SELECT count(*) FROM cases)"


echo 'bench-password-1234' | "$BIN" user add --name bench-commander-$$ --role provincial_commander \
  --region 220000 --password-stdin --database-url "$URL" >/dev/null
TOKEN=$("$BIN" user token add bench-commander-$$ --label bench --database-url "$URL" | grep -o 'cl_[A-Za-z0-9_-]*' | head -n1)

"$BIN" serve --database-url "$URL" --bind 127.0.0.1:$PORT >/tmp/console-bench-serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done

# Pages: the dashboard, and list pages with the filters a command centre uses.
PAGES=(
  "/"
  "/cases"
  "/cases?classification=confirmed&from=2022-03-10&to=2022-03-20"
  "/cases?region=220102&sort=report_time&dir=desc&page=3"
  "/cases?discovery_channel=community_screening&region=220100"
  "/persons?region=220104"
  "/search?q=%E6%B5%8B%E8%AF%95123"
  "/loop"
)
echo "| page | p50 ms | p95 ms | p99 ms | requests | non-2xx |"
echo "|---|---|---|---|---|---|"
for page in "${PAGES[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "127.0.0.1:$PORT$page")
  line=$(wrk -t2 -c20 -d"$DURATION" -H "Authorization: Bearer $TOKEN" -s bench/console/p95.lua \
    "http://127.0.0.1:$PORT$page" | grep '^RESULT')
  eval "${line#RESULT }"
  echo "| \`$page\` (HTTP $code) | $p50_ms | $p95_ms | $p99_ms | $requests | $non2xx |"
done

echo
echo "== peer: the same list queries straight to PostgreSQL, 20 clients (pgbench) =="
cat > /tmp/console-bench-q1.sql <<'SQL'
SELECT count(*) FROM cases c WHERE c.classification = 'confirmed' AND c.report_time >= 1646841600 AND c.report_time < 1647792000;
SELECT c.case_id, p.name FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.classification = 'confirmed' AND c.report_time >= 1646841600 AND c.report_time < 1647792000 ORDER BY c.report_time, c.case_id LIMIT 50;
SQL
pgbench -n -c20 -j2 -T"${DURATION%s}" -r -f /tmp/console-bench-q1.sql "$URL" 2>/dev/null | grep -E "latency average|tps"
