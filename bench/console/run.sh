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

if [[ -n "${FRESH:-}" ]] || ! psql "$URL" -Atc "SELECT 1 FROM cases WHERE case_id LIKE 'BENCH-%' LIMIT 1" 2>/dev/null | grep -q 1; then
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  echo "== demo province, then grown to $PERSONS persons and $CASES cases =="
  "$BIN" demo --no-serve --database-url "$URL" >/dev/null   # the demo fills an empty PostgreSQL database
  time psql "$URL" -q -v persons="$PERSONS" -v cases="$CASES" -f bench/console/grow.sql
fi
psql "$URL" -Atc "SELECT 'persons ' || (SELECT count(*) FROM persons) || ', cases ' || (SELECT count(*) FROM cases)"
echo "machine: $(nproc) cores, $(uptime)"


echo 'bench-password-1234' | "$BIN" user add --name bench-commander-$$ --role provincial_commander \
  --region 220000 --password-stdin --database-url "$URL" >/dev/null
TOKEN=$("$BIN" user token add bench-commander-$$ --label bench --database-url "$URL" | grep -o 'cl_[A-Za-z0-9_-]*' | head -n1)

"$BIN" serve --database-url "$URL" --bind 127.0.0.1:$PORT >/tmp/console-bench-serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done
# Measure the steady state: the server loads the tracing index (persons,
# households, stays) in the background after it starts listening, which takes
# both cores for 10-20 s at this size.
for _ in $(seq 1 240); do grep -q 'trace index loaded' /tmp/console-bench-serve.log && break; sleep 0.5; done

# Pages: the dashboard, and list pages with the filters a command centre uses.
# Each line is a label, then the paths its requests cycle through (wrk with
# vary.lua): list pages vary their filters, dates and page numbers, so a
# cache cannot make them look fast. The dashboard is requested as a wall
# screen does, the same page again and again: that is what its cache (valid
# while the audit head is unchanged) is for, and the second dashboard line
# varies the day to show the cost of computing it.
PAGES=(
  "/ (wall screen)|/"
  "/?date= (varied days)|$(for n in 10 12 14 16 18 20 22 24; do printf '/?date=2022-03-%02d ' $n; done)"
  "/cases (pages 1-8)|$(for n in 1 2 3 4 5 6 7 8; do printf '/cases?page=%d ' $n; done)"
  "/cases?classification=…&from=…&to=…|$(for c in confirmed asymptomatic; do for n in 1 5 10 15; do printf '/cases?classification=%s&from=2022-03-%02d&to=2022-03-%02d ' $c $n $((n + 10)); done; done)"
  "/cases?region=<district>&sort=report_time&dir=desc&page=…|$(for r in 220102 220103 220104 220105; do for n in 1 3; do printf '/cases?region=%s&sort=report_time&dir=desc&page=%d ' $r $n; done; done)"
  "/cases?discovery_channel=…&region=<city>|$(for c in community_screening fever_clinic home_quarantine centralized_quarantine; do for r in 220100 220200; do printf '/cases?discovery_channel=%s&region=%s ' $c $r; done; done)"
  "/persons?region=<district>&page=…|$(for r in 220102 220103 220104 220105; do for n in 1 4; do printf '/persons?region=%s&page=%d ' $r $n; done; done)"
  "/search?q=<name prefix, document, phone>|/search?q=%E6%B5%8B%E8%AF%95123 /search?q=%E6%B5%8B%E8%AF%954567 /search?q=BENCH12345 /search?q=13900054321 /search?q=%E6%B5%8B%E8%AF%95988"
  "/loop|/loop"
)
echo "| page | p50 ms | p95 ms | p99 ms | requests | non-2xx | paths |"
echo "|---|---|---|---|---|---|---|"
for entry in "${PAGES[@]}"; do
  label=${entry%%|*}
  read -r -a paths <<<"${entry#*|}"
  codes=$(for p in "${paths[@]}"; do curl -s -o /dev/null -w '%{http_code} ' -H "Authorization: Bearer $TOKEN" "127.0.0.1:$PORT$p"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')
  line=$(wrk -t2 -c20 -d"$DURATION" -H "Authorization: Bearer $TOKEN" -s bench/console/vary.lua \
    "http://127.0.0.1:$PORT${paths[0]}" -- "${paths[@]}" | grep '^RESULT')
  eval "${line#RESULT }"
  echo "| \`$label\` (HTTP ${codes% }) | $p50_ms | $p95_ms | $p99_ms | $requests | $non2xx | ${#paths[@]} |"
done

echo
echo "== peer: the same list queries straight to PostgreSQL, 20 clients (pgbench) =="
cat > /tmp/console-bench-q1.sql <<'SQL'
SELECT count(*) FROM cases c WHERE c.classification = 'confirmed' AND c.report_time >= 1646841600 AND c.report_time < 1647792000;
SELECT c.case_id, p.name FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.classification = 'confirmed' AND c.report_time >= 1646841600 AND c.report_time < 1647792000 ORDER BY c.report_time, c.case_id LIMIT 50;
SQL
pgbench -n -c20 -j2 -T"${DURATION%s}" -r -f /tmp/console-bench-q1.sql "$URL" 2>/dev/null | grep -E "latency average|tps"
