#!/usr/bin/env python3
"""One new case on a warm index (issue 3, "Incremental"), closedloop against DuckDB.

Both sides hold the city in memory before the first query:

- closedloop: `tracebench serve` (bench/citygen/src/bin/tracebench.rs) reads
  the Parquet file, builds the StayIndex and the id ranks, then answers one
  case per stdin line; it reports the engine's own time per query (the id
  lookup and the tracing, without the pipe).
- DuckDB (PyPI duckdb, `SET threads`, in this process): the check-ins loaded
  into in-memory tables first (times as integer seconds), then one SQL query
  per case, timed around `execute(...).fetchall()` from Python.

Same cases, same question (the close contacts of that one case under the
standalone contract: lookback 2 days, buffer 30 min, minimum overlap 0,
as-of = the latest check-out), answers compared row by row. Prints median,
p95 and the ratio of medians, and writes them to bench/out/SIZE/incremental.json.

    python3 bench/incremental.py --size M --queries 200
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOKBACK = 2 * 86400
BUFFER = 1800

# The close contacts of one case, in one statement. `s` holds every stay
# sorted by venue then check-in (so the probe side's zone maps skip most row
# groups once the join pushes the case's venues down); `bp` the same stays
# sorted by person, for the case's own stays.
JOIN_SQL = """
WITH ex AS (
    SELECT vid, greatest(cin, $ws) AS es, least(cout, $we) + $buf AS ee
    FROM bp
    WHERE pid = $pid AND least(cout, $we) - greatest(cin, $ws) > 0
)
SELECT s.pid, min(greatest(s.cin, ex.es)) AS t
FROM ex JOIN s ON s.vid = ex.vid AND s.cin < ex.ee AND s.cout > ex.es
WHERE s.pid <> $pid AND least(s.cout, ex.ee) - greatest(s.cin, ex.es) > 0
GROUP BY s.pid
ORDER BY s.pid
"""

# The same, one venue at a time through an ART index on the venue: the
# case's exposures first, then one query with all their venues listed.
INDEX_EXPOSURES_SQL = """
SELECT vid, greatest(cin, $ws) AS es, least(cout, $we) + $buf AS ee
FROM bp
WHERE pid = $pid AND least(cout, $we) - greatest(cin, $ws) > 0
"""


def percentile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="M")
    ap.add_argument("--data", default=None)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duckdb-memory", default="12GB")
    ap.add_argument("--formulations", default="join,index")
    ap.add_argument("--bin", default=os.environ.get("TRACEBENCH", os.path.join(ROOT, "target/release/tracebench")))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data = args.data or os.path.join(ROOT, "bench/data", args.size)
    parquet = os.path.join(data, "checkins.parquet")
    out_json = args.json or os.path.join(ROOT, "bench/out", args.size, "incremental.json")
    os.makedirs(os.path.dirname(out_json), exist_ok=True)

    # closedloop: start the warm server first (it loads in parallel with DuckDB
    # only while neither is timed).
    t0 = time.perf_counter()
    proc = subprocess.Popen([args.bin, "serve", "--checkins", parquet], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    ready = proc.stdout.readline()
    if not ready.startswith("ready"):
        sys.exit(f"tracebench did not start: {ready!r}")
    ours_load = json.loads(ready.split(" ", 1)[1])
    ours_load["wall_s"] = time.perf_counter() - t0
    print(f"closedloop warm: {ours_load}", flush=True)

    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute(f"SET memory_limit = '{args.duckdb_memory}'")
    t0 = time.perf_counter()
    con.execute(f"""CREATE TABLE s AS
        SELECT person_id AS pid, venue_id AS vid,
               epoch(check_in)::BIGINT AS cin, epoch(check_out)::BIGINT AS cout
        FROM read_parquet('{parquet}') ORDER BY vid, cin""")
    con.execute("CREATE TABLE bp AS SELECT * FROM s ORDER BY pid")
    formulations = args.formulations.split(",")
    if "index" in formulations:
        con.execute("CREATE TABLE sv AS SELECT * FROM s")
        con.execute("CREATE INDEX sv_vid ON sv(vid)")
    duck_load = time.perf_counter() - t0
    as_of, t_min = con.execute("SELECT max(cout), min(cin) FROM s").fetchone()
    print(f"DuckDB loaded in {duck_load:.1f} s; as-of {as_of}", flush=True)

    # Cases: people with stays, reference times in the last 7 days, half isolated 1-3 days later.
    rng = random.Random(args.seed)
    people = [r[0] for r in con.execute(
        f"SELECT pid FROM (SELECT DISTINCT pid FROM bp ORDER BY pid) USING SAMPLE reservoir({args.warmup + args.queries} ROWS) REPEATABLE ({args.seed})").fetchall()]
    people.sort()
    rng.shuffle(people)
    cases = []
    for p in people:
        ref = as_of - rng.randrange(0, 7 * 86400)
        iso = ref + rng.randrange(86400, 3 * 86400) if rng.random() < 0.5 else None
        cases.append((p, ref, iso))

    def ours(case):
        p, ref, iso = case
        t = time.perf_counter()
        proc.stdin.write(f"{p},{ref},{'' if iso is None else iso},{as_of}\n")
        proc.stdin.flush()
        head = proc.stdout.readline().split()
        micros, n = float(head[1]), int(head[2])
        rows = []
        for _ in range(n):
            person, first, via, sources = proc.stdout.readline().rstrip("\n").split(",")
            rows.append((person, int(first)))
        roundtrip.append(time.perf_counter() - t)
        return micros / 1e6, rows

    def duck(case, how):
        p, ref, iso = case
        ws, we = ref - LOOKBACK, (iso if iso is not None else as_of)
        params = {"pid": p, "ws": ws, "we": we, "buf": BUFFER}
        t = time.perf_counter()
        if how == "join":
            rows = con.execute(JOIN_SQL, params).fetchall()
        else:
            ex = con.execute(INDEX_EXPOSURES_SQL, params).fetchall()
            best = {}
            for vid, es, ee in ex:
                for pid, cin, cout in con.execute(
                        "SELECT pid, cin, cout FROM sv WHERE vid = $v", {"v": vid}).fetchall():
                    if pid != p and min(cout, ee) - max(cin, es) > 0:
                        tt = max(cin, es)
                        if pid not in best or tt < best[pid]:
                            best[pid] = tt
            rows = sorted(best.items())
        return time.perf_counter() - t, [(r[0], int(r[1])) for r in rows]

    results = {"size": args.size, "queries": args.queries, "threads": args.threads,
               "closedloop_load": ours_load, "duckdb_load_s": duck_load,
               "duckdb_version": duckdb.__version__, "formulations": {}}
    times = {"closedloop": []}
    for f in formulations:
        times[f] = []
    mismatches = 0
    contacts = []
    roundtrip = []
    for i, case in enumerate(cases):
        t_ours, r_ours = ours(case)
        measured = i >= args.warmup
        if measured:
            times["closedloop"].append(t_ours)
            contacts.append(len(r_ours))
        for f in formulations:
            t_duck, r_duck = duck(case, f)
            if measured:
                times[f].append(t_duck)
            if r_duck != r_ours:
                mismatches += 1
                if mismatches <= 3:
                    print(f"MISMATCH {f} case {case}: closedloop {len(r_ours)} rows, DuckDB {len(r_duck)}")
    proc.stdin.close()
    proc.wait()

    def stats(xs):
        return {"median_ms": statistics.median(xs) * 1e3, "p95_ms": percentile(xs, 0.95) * 1e3,
                "mean_ms": statistics.mean(xs) * 1e3, "max_ms": max(xs) * 1e3}

    ours_stats = stats(times["closedloop"])
    results["closedloop"] = ours_stats
    rt = stats(roundtrip[args.warmup:])
    results["closedloop_roundtrip"] = rt
    results["contacts_per_case"] = {"median": statistics.median(contacts), "max": max(contacts),
                                   "mean": statistics.mean(contacts)}
    print(f"{args.queries} cases (after {args.warmup} warm-up), close contacts per case: "
          f"median {statistics.median(contacts)}, mean {statistics.mean(contacts):.0f}, max {max(contacts)}")
    print(f"closedloop: median {ours_stats['median_ms']:.3f} ms, p95 {ours_stats['p95_ms']:.3f} ms "
          f"(engine); from Python through the pipe, with the rows: median {rt['median_ms']:.3f} ms, "
          f"p95 {rt['p95_ms']:.3f} ms")
    for f in formulations:
        s = stats(times[f])
        s["ratio_of_medians"] = s["median_ms"] / ours_stats["median_ms"]
        results["formulations"][f] = s
        print(f"DuckDB {f}: median {s['median_ms']:.3f} ms, p95 {s['p95_ms']:.3f} ms; "
              f"ratio of medians {s['ratio_of_medians']:.1f}x")
    results["mismatches"] = mismatches
    print("answers equal" if mismatches == 0 else f"{mismatches} answers differ")
    with open(out_json, "w") as fh:
        json.dump(results, fh, indent=2)
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
