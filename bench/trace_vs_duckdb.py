#!/usr/bin/env python3
"""closedloop trace against DuckDB: one run, the same files, equal answers.

    python3 bench/trace_vs_duckdb.py --size M                # benchmark (3 repetitions)
    python3 bench/trace_vs_duckdb.py --size S --duckdb-only --formulations best,plain --reps 1
    python3 bench/trace_vs_duckdb.py --size S --reference-only   # the DuckDB answer, an oracle

The data come from bench/citygen (generated on first use into bench/data/SIZE).
`closedloop trace --checkins DIR/checkins.parquet --cases DIR/cases.csv --out OUT
--secondary` runs as a whole process; DuckDB (2 threads) computes the same CSV
from the same Parquet file with SQL, in two formulations (--formulations;
only the best one by default):

  plain   one SQL statement: case stays joined to all stays on the venue with the
          overlap predicate, then close contacts' stays the same way.
  best    dictionary-encoded person and venue ids, stays pre-filtered to the
          time range, and the venue join split into two equi-joins on
          (venue, time bucket) so that each overlapping pair is found exactly
          once; pairs are reduced per (person, source) before the per-person
          aggregate.

Every output is compared with the others (after normalising the formatting);
any difference is a failure (exit status 1). See bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
US = 1_000_000
HEADER = ["person_id", "degree", "first_exposure", "via", "sources"]
FORMULATIONS = ("plain", "best")


# --------------------------------------------------------------------------
# Parameters and inputs


def parse_instant(text: str) -> int:
    """RFC 3339 (``Z`` or an offset) to microseconds since the epoch."""
    t = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    if t.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def format_instant(us: int) -> str:
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def read_cases(path: Path):
    """person_id, reference time and isolation time (or None) in microseconds."""
    out = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"person_id", "reference_time", "isolated_at"} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{path}: missing column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                iso = row["isolated_at"].strip()
                out.append(
                    (
                        row["person_id"].strip(),
                        parse_instant(row["reference_time"]),
                        parse_instant(iso) if iso else None,
                    )
                )
            except ValueError as e:
                raise SystemExit(f"{path}:{line}: {e}")
    return out


class Params:
    def __init__(self, a):
        self.lookback = round(a.lookback_days * 86_400 * US)
        self.buffer = round(a.buffer_minutes * 60 * US)
        self.min_overlap = round(a.min_overlap_minutes * 60 * US)
        self.secondary = a.secondary
        self.as_of = parse_instant(a.as_of) if a.as_of else None
        self.bucket = round(a.bucket_minutes * 60 * US)

    def trace_flags(self, a) -> list[str]:
        flags = [
            "--lookback-days", fmt_num(a.lookback_days),
            "--buffer-minutes", fmt_num(a.buffer_minutes),
            "--min-overlap-minutes", fmt_num(a.min_overlap_minutes),
        ]
        if a.secondary:
            flags.append("--secondary")
        if a.as_of:
            flags += ["--as-of", a.as_of]
        return flags


def fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


# --------------------------------------------------------------------------
# DuckDB formulations (run in a worker process, so that its memory is its own)


def time_columns(con, parquet: str):
    """Expressions giving check_in/check_out in microseconds (timestamps or int64)."""
    types = {r[0]: r[1].upper() for r in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({sql_str(parquet)})").fetchall()}
    for c in ("person_id", "venue_id", "check_in", "check_out"):
        if c not in types:
            raise SystemExit(f"{parquet}: no column {c}")
    def expr(c):
        return f"epoch_us({c})" if types[c].startswith("TIMESTAMP") else f"CAST({c} AS BIGINT)"
    return expr("check_in"), expr("check_out")


def overlap_ok(p_in, p_out, e_es, e_ee, min_overlap):
    """The qualifying-overlap predicate, literally."""
    ov = f"least({p_out}, {e_ee}) - greatest({p_in}, {e_es})"
    cond = f"{ov} > 0"
    if min_overlap > 0:
        cond += f" AND {ov} >= {min_overlap}"
    return cond


def plain_sql(parquet: str, tin: str, tout: str, prm: Params) -> str:
    """The straightforward formulation: one statement, joins on the venue."""
    as_of = str(prm.as_of) if prm.as_of is not None else "(SELECT max(t_out) FROM checkins)"
    q = f"""
WITH checkins AS (
  SELECT person_id, venue_id, {tin} AS t_in, {tout} AS t_out FROM read_parquet({sql_str(parquet)})),
params AS (SELECT {as_of} AS as_of),
windows AS (
  SELECT c.person_id AS case_id, c.ref_us - {prm.lookback} AS ws, coalesce(c.iso_us, p.as_of) AS we
  FROM cases c, params p),
case_exposures AS (
  SELECT w.case_id AS src, s.venue_id, greatest(s.t_in, w.ws) AS es, least(s.t_out, w.we) + {prm.buffer} AS ee
  FROM checkins s JOIN windows w ON s.person_id = w.case_id
  WHERE least(s.t_out, w.we) > greatest(s.t_in, w.ws)),
primary_pairs AS (
  SELECT p.person_id, e.src, greatest(p.t_in, e.es) AS t
  FROM checkins p JOIN case_exposures e ON p.venue_id = e.venue_id
  WHERE p.person_id NOT IN (SELECT person_id FROM cases)
    AND {overlap_ok('p.t_in', 'p.t_out', 'e.es', 'e.ee', prm.min_overlap)}),
close_contacts AS (
  SELECT person_id, min(t) AS first_exposure, struct_extract(min(struct_pack(t := t, s := src)), 's') AS via,
         count(DISTINCT src) AS sources
  FROM primary_pairs GROUP BY person_id)"""
    if prm.secondary:
        q += f""",
contact_exposures AS (
  SELECT c.person_id AS src, s.venue_id, greatest(s.t_in, c.first_exposure) AS es,
         least(s.t_out, p.as_of) + {prm.buffer} AS ee
  FROM checkins s JOIN close_contacts c ON s.person_id = c.person_id, params p
  WHERE least(s.t_out, p.as_of) > greatest(s.t_in, c.first_exposure)),
secondary_pairs AS (
  SELECT p.person_id, e.src, greatest(p.t_in, e.es) AS t
  FROM checkins p JOIN contact_exposures e ON p.venue_id = e.venue_id
  WHERE p.person_id NOT IN (SELECT person_id FROM cases)
    AND p.person_id NOT IN (SELECT person_id FROM close_contacts)
    AND {overlap_ok('p.t_in', 'p.t_out', 'e.es', 'e.ee', prm.min_overlap)}),
secondary_contacts AS (
  SELECT person_id, min(t) AS first_exposure, struct_extract(min(struct_pack(t := t, s := src)), 's') AS via,
         count(DISTINCT src) AS sources
  FROM secondary_pairs GROUP BY person_id)"""
    rows = "SELECT *, 1 AS degree FROM close_contacts"
    if prm.secondary:
        rows += " UNION ALL SELECT *, 2 AS degree FROM secondary_contacts"
    q += f"""
SELECT person_id, degree, strftime(make_timestamp(first_exposure), '%Y-%m-%dT%H:%M:%SZ') AS first_exposure,
       via, sources
FROM ({rows}) ORDER BY person_id"""
    return q


def best_statements(con, parquet: str, tin: str, tout: str, prm: Params, min_ws: int):
    """The fastest formulation found: yields (label, SQL) to run in order.

    - Stays that end before the earliest window start can touch nothing: they
      are dropped while reading (Parquet row groups are skipped by statistics).
    - Person ids become integers in byte order (so "smallest id" survives) and
      venue ids integers; the pair aggregates work on one packed BIGINT key.
    - A stay p and an exposure e at the same venue overlap from
      t = max(p.in, e.es). Either p starts inside e (t = p.in) or p covers e's
      start (t = e.es). The first pairs are found by an equi-join of p's start
      bucket with the buckets e spans, the second by an equi-join of e's start
      bucket with the buckets p spans: each pair exactly once, without the
      venue-wide cross product a crowded mall or canteen gives the plain join.
    """
    B = prm.bucket
    yield "as_of", None  # filled in below by the caller's driver
    yield "stays", f"""
CREATE TEMP TABLE raw AS
SELECT person_id, venue_id, {tin} AS t_in, {tout} AS t_out
FROM read_parquet({sql_str(parquet)}) WHERE {tout} > {min_ws}"""
    yield "people", """
CREATE TEMP TABLE people AS
SELECT person_id, CAST(row_number() OVER (ORDER BY person_id) AS INTEGER) AS pid
FROM (SELECT DISTINCT person_id FROM raw UNION SELECT person_id FROM cases)"""
    yield "venues", """
CREATE TEMP TABLE venues AS
SELECT venue_id, CAST(row_number() OVER () AS INTEGER) AS vid FROM (SELECT DISTINCT venue_id FROM raw)"""
    yield "st", """
CREATE TEMP TABLE st AS
SELECT p.pid, v.vid, r.t_in, r.t_out FROM raw r JOIN people p USING (person_id) JOIN venues v USING (venue_id)"""
    yield "drop raw", "DROP TABLE raw"
    yield "windows", f"""
CREATE TEMP TABLE win AS
SELECT p.pid, c.ref_us - {prm.lookback} AS ws, coalesce(c.iso_us, (SELECT as_of FROM params)) AS we
FROM cases c JOIN people p USING (person_id)"""

    def contacts(exposures: str, excluded: str, out: str):
        # (person, source) pairs and (time, source) pairs packed into one
        # integer: pids are below sh. The smallest packed (time, source) is the
        # earliest exposure, ties going to the smallest source id.
        n = con.execute("SELECT count(*) FROM people").fetchone()[0]
        sh = 1 << max(1, n.bit_length())
        if sh >= 1 << 31:
            raise SystemExit("too many people for packed keys")
        return f"""
CREATE TEMP TABLE {out} AS
WITH P AS (
  SELECT s.pid, s.vid, s.t_in, s.t_out FROM st s
  WHERE s.t_out > s.t_in
    AND s.t_out > (SELECT min(es) FROM {exposures}) AND s.t_in < (SELECT max(ee) FROM {exposures})
    AND s.vid IN (SELECT vid FROM {exposures})
    AND s.pid NOT IN ({excluded})),
EX AS (SELECT src, vid, es, ee, unnest(range(es // {B}, (ee - 1) // {B} + 1)) AS k FROM {exposures}),
PX AS (SELECT pid, vid, t_in, t_out, unnest(range(t_in // {B}, (t_out - 1) // {B} + 1)) AS k FROM P),
pairs AS (
  SELECT p.pid, e.src, p.t_in AS t FROM P p JOIN EX e ON p.vid = e.vid AND p.t_in // {B} = e.k
  WHERE p.t_in >= e.es AND p.t_in < e.ee{min_ov('p.t_in', 'least(p.t_out, e.ee)', prm)}
  UNION ALL
  SELECT p.pid, e.src, e.es AS t FROM PX p JOIN {exposures} e ON p.vid = e.vid AND p.k = e.es // {B}
  WHERE p.t_in < e.es AND p.t_out > e.es{min_ov('e.es', 'least(p.t_out, e.ee)', prm)}),
per_source AS (
  SELECT CAST(pid AS BIGINT) * {sh} + src AS key, min(t) AS t FROM pairs GROUP BY key)
SELECT CAST(key // {sh} AS INTEGER) AS pid, min(t) AS fe,
       CAST(min(CAST(t AS HUGEINT) * {sh} + key % {sh}) % {sh} AS INTEGER) AS via, count(*) AS sources
FROM per_source GROUP BY key // {sh}"""

    yield "case exposures", f"""
CREATE TEMP TABLE ce AS
SELECT w.pid AS src, s.vid, greatest(s.t_in, w.ws) AS es, least(s.t_out, w.we) + {prm.buffer} AS ee
FROM st s JOIN win w USING (pid) WHERE least(s.t_out, w.we) > greatest(s.t_in, w.ws)"""
    yield "close contacts", contacts("ce", "SELECT pid FROM win", "d1")
    parts = "SELECT pid, 1 AS degree, fe, via, sources FROM d1"
    if prm.secondary:
        yield "contact exposures", f"""
CREATE TEMP TABLE cce AS
SELECT d.pid AS src, s.vid, greatest(s.t_in, d.fe) AS es,
       least(s.t_out, (SELECT as_of FROM params)) + {prm.buffer} AS ee
FROM st s JOIN d1 d USING (pid) WHERE least(s.t_out, (SELECT as_of FROM params)) > greatest(s.t_in, d.fe)"""
        yield "secondary contacts", contacts(
            "cce", "SELECT pid FROM win UNION ALL SELECT pid FROM d1", "d2")
        parts += " UNION ALL SELECT pid, 2 AS degree, fe, via, sources FROM d2"
    yield "output", f"""
SELECT pe.person_id, r.degree, strftime(make_timestamp(r.fe), '%Y-%m-%dT%H:%M:%SZ') AS first_exposure,
       v.person_id AS via, r.sources
FROM ({parts}) r JOIN people pe ON pe.pid = r.pid JOIN people v ON v.pid = r.via
ORDER BY r.pid"""


def min_ov(start: str, end: str, prm: Params) -> str:
    return f" AND {end} - {start} >= {prm.min_overlap}" if prm.min_overlap > 0 else ""


def worker(a) -> None:
    """Runs one formulation and writes its CSV; prints timings as JSON."""
    import duckdb
    import pyarrow as pa

    prm = Params(a)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    if a.duckdb_memory:
        con.execute(f"SET memory_limit = {sql_str(a.duckdb_memory)}")
    tmp = Path(a.work) / f"duckdb-tmp-{os.getpid()}"
    con.execute(f"SET temp_directory = {sql_str(str(tmp))}")
    con.execute("SET preserve_insertion_order = false")
    cases = read_cases(Path(a.cases))
    con.register("cases_in", pa.table({
        "person_id": pa.array([c[0] for c in cases], pa.string()),
        "ref_us": pa.array([c[1] for c in cases], pa.int64()),
        "iso_us": pa.array([c[2] for c in cases], pa.int64()),
    }))
    con.execute("CREATE TEMP TABLE cases AS SELECT * FROM cases_in")
    parquet = str(Path(a.checkins).resolve())
    tin, tout = time_columns(con, parquet)
    steps = {}
    out = sql_str(str(Path(a.out).resolve()))
    if a.worker == "plain":
        t = time.perf_counter()
        con.execute(f"COPY ({plain_sql(parquet, tin, tout, prm)}) TO {out} (HEADER, DELIMITER ',')")
        steps["query"] = time.perf_counter() - t
    else:
        min_ws = min((c[1] for c in cases), default=0) - prm.lookback
        for label, sql in best_statements(con, parquet, tin, tout, prm, min_ws):
            t = time.perf_counter()
            if label == "as_of":
                if prm.as_of is not None:
                    con.execute(f"CREATE TEMP TABLE params AS SELECT CAST({prm.as_of} AS BIGINT) AS as_of")
                else:
                    con.execute(f"CREATE TEMP TABLE params AS SELECT max({tout}) AS as_of "
                                f"FROM read_parquet({sql_str(parquet)})")
            elif label == "output":
                con.execute(f"COPY ({sql}) TO {out} (HEADER, DELIMITER ',')")
            else:
                con.execute(sql)
            steps[label] = round(time.perf_counter() - t, 3)
    total = time.perf_counter() - started
    con.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"seconds": total, "steps": steps}))


# --------------------------------------------------------------------------
# Running, measuring and comparing


def run_measured(cmd, timeout: float, stdout: Path, stderr: Path, env=None):
    """Wall time, peak RSS (MB) of the process tree's largest member, exit status."""
    with open(stdout, "wb") as so, open(stderr, "wb") as se:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=so, stderr=se, start_new_session=True, env=env)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_maxrss / 1024.0, p.returncode, timed_out.is_set()


def has_trace(binary: Path) -> tuple[bool, str]:
    if not binary.exists():
        return False, f"{binary} does not exist (cargo build --release -p closedloop-cli)"
    r = subprocess.run([str(binary), "trace", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f"{binary} has no `trace` subcommand yet"
    return True, ""


def load_output(path: Path):
    """Rows as normalised tuples, and notes on the raw formatting."""
    notes = []
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        raw = f.read()
    lines = raw.splitlines()
    if not lines:
        return rows, ["empty file"]
    reader = csv.reader(lines)
    header = next(reader)
    if [h.strip() for h in header] != HEADER:
        notes.append(f"header {header!r}")
    for n, r in enumerate(reader, start=2):
        if len(r) != 5:
            notes.append(f"line {n}: {len(r)} fields")
            continue
        try:
            rows.append((r[0].strip(), int(r[1]), parse_instant(r[2]) // US, r[3].strip(), int(r[4])))
        except ValueError as e:
            notes.append(f"line {n}: {e}")
    ids = [r[0].encode() for r in rows]
    if any(a >= b for a, b in zip(ids, ids[1:])):
        notes.append("not sorted by person_id (byte order), or an id repeats")
    return rows, notes


def compare(a_name, a_path, b_name, b_path) -> tuple[bool, str]:
    a, an = load_output(a_path)
    b, bn = load_output(b_path)
    lines = []
    for name, notes in ((a_name, an), (b_name, bn)):
        for n in notes[:5]:
            lines.append(f"    {name}: {n}")
    if a == b and not an and not bn:
        same_bytes = a_path.read_bytes() == b_path.read_bytes()
        return True, f"  {b_name} = {a_name}: {len(a)} rows equal" + (
            ", byte for byte" if same_bytes else " (after normalising formatting)")
    da = {r[0]: r for r in a}
    db = {r[0]: r for r in b}
    only_a = sorted(set(da) - set(db))
    only_b = sorted(set(db) - set(da))
    fields = {h: 0 for h in HEADER[1:]}
    examples = []
    for pid in sorted(set(da) & set(db)):
        if da[pid] != db[pid]:
            for i, h in enumerate(HEADER[1:], start=1):
                if da[pid][i] != db[pid][i]:
                    fields[h] += 1
            if len(examples) < 5:
                examples.append((da[pid], db[pid]))
    differing = ", ".join(f"{h} {n}" for h, n in fields.items() if n) or "none"
    lines.insert(0, f"  {b_name} != {a_name}: {len(a)} vs {len(b)} rows; only in {a_name}: "
                    f"{len(only_a)}, only in {b_name}: {len(only_b)}; differing fields: {differing}")
    for pid in only_a[:3]:
        lines.append(f"    only in {a_name}: {fmt_row(da[pid])}")
    for pid in only_b[:3]:
        lines.append(f"    only in {b_name}: {fmt_row(db[pid])}")
    for x, y in examples:
        lines.append(f"    {a_name}: {fmt_row(x)}\n    {b_name}: {fmt_row(y)}")
    return False, "\n".join(lines)


def fmt_row(r):
    return f"{r[0]},{r[1]},{format_instant(r[2] * US)},{r[3]},{r[4]}"


def ensure_data(a) -> Path:
    data = Path(a.data) if a.data else (
        Path("/tmp/closedloop-bench/L") if a.size == "L" else ROOT / "bench" / "data" / a.size)
    if (data / "checkins.parquet").exists() and (data / "cases.csv").exists():
        return data
    cmd = ["cargo", "run", "--release", "-p", "citygen", "--bin", "citygen", "--", "--size", a.size,
           "--seed", str(a.seed), "--out", str(data), "--cases", str(a.cases)]
    print(f"generating {data}: {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["S", "M", "L"], default="M")
    ap.add_argument("--data", help="data folder (default bench/data/SIZE; L: /tmp/closedloop-bench/L)")
    ap.add_argument("--seed", type=int, default=1, help="citygen seed when the data must be generated")
    ap.add_argument("--cases", type=int, default=1000, help="citygen --cases when the data must be generated")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--lookback-days", type=float, default=2)
    ap.add_argument("--buffer-minutes", type=float, default=30)
    ap.add_argument("--min-overlap-minutes", type=float, default=0)
    ap.add_argument("--secondary", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--as-of", help="RFC 3339; default: the latest check_out in the data")
    ap.add_argument("--closedloop", default=str(ROOT / "target" / "release" / "closedloop"))
    ap.add_argument("--formulations", default="best",
                    help="DuckDB formulations to run, in order (default best; plain takes minutes at S)")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    ap.add_argument("--duckdb-memory", default="12GB", help="DuckDB memory_limit ('' for its default)")
    ap.add_argument("--bucket-minutes", type=float, default=60, help="time bucket of the best formulation")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before one run is stopped")
    ap.add_argument("--work", help="outputs and logs (default bench/out/SIZE)")
    ap.add_argument("--duckdb-only", action="store_true", help="do not run closedloop")
    ap.add_argument("--reference-only", action="store_true",
                    help="write DuckDB's answer (the first formulation) to --out, checked against the others")
    ap.add_argument("--out", help="with --reference-only: the CSV to write (default DATA/reference.csv)")
    ap.add_argument("--json", help="also write the results here")
    # Internal: one DuckDB run in this process.
    ap.add_argument("--worker", choices=FORMULATIONS, help=argparse.SUPPRESS)
    ap.add_argument("--checkins", help=argparse.SUPPRESS)
    ap.add_argument("--cases-file", dest="cases_path", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.worker:
        a.cases = a.cases_path
        worker(a)
        return 0

    try:
        import duckdb  # noqa: F401
    except ImportError:
        print("DuckDB is missing: pip install -r bench/requirements.txt", file=sys.stderr)
        return 2
    import duckdb

    data = ensure_data(a)
    work = Path(a.work) if a.work else ROOT / "bench" / "out" / a.size
    work.mkdir(parents=True, exist_ok=True)
    prm = Params(a)
    formulations = [f.strip() for f in a.formulations.split(",") if f.strip()]
    for f in formulations:
        if f not in FORMULATIONS:
            raise SystemExit(f"unknown formulation {f!r}; known: {', '.join(FORMULATIONS)}")
    checkins = data / "checkins.parquet"
    cases = data / "cases.csv"
    meta = json.loads((data / "meta.json").read_text()) if (data / "meta.json").exists() else {}

    run_closedloop = not (a.duckdb_only or a.reference_only)
    binary = Path(a.closedloop)
    if run_closedloop:
        ok, why = has_trace(binary)
        if not ok:
            print(f"closedloop: {why}; running DuckDB only.")
            run_closedloop = False

    systems = (["closedloop"] if run_closedloop else []) + [f"duckdb-{f}" for f in formulations]
    reps = 1 if a.reference_only else a.reps
    desc = (f"size {a.size}: {meta.get('stays', '?'):,} stays, {meta.get('people', '?'):,} people, "
            f"{sum(1 for _ in open(cases)) - 1} cases; lookback {fmt_num(a.lookback_days)} d, "
            f"buffer {fmt_num(a.buffer_minutes)} min, min overlap {fmt_num(a.min_overlap_minutes)} min, "
            f"{'with' if a.secondary else 'without'} secondary; DuckDB {duckdb.__version__}, "
            f"{a.threads} threads; {reps} repetition(s)")
    print(desc, flush=True)

    results = {s: {"wall": [], "query": [], "rss": [], "status": "ok", "steps": None} for s in systems}
    outputs = {s: work / f"{s}.csv" for s in systems}
    for rep in range(reps):
        for s in systems:
            r = results[s]
            if r["status"] != "ok":
                continue
            log = work / f"{s}.log"
            if s == "closedloop":
                cmd = [str(binary), "trace", "--checkins", str(checkins), "--cases", str(cases),
                       "--out", str(outputs[s])] + prm.trace_flags(a)
            else:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", s.split("-", 1)[1],
                       "--checkins", str(checkins), "--cases-file", str(cases), "--out", str(outputs[s]),
                       "--work", str(work), "--threads", str(a.threads),
                       "--duckdb-memory", a.duckdb_memory, "--bucket-minutes", str(a.bucket_minutes),
                       "--lookback-days", str(a.lookback_days), "--buffer-minutes", str(a.buffer_minutes),
                       "--min-overlap-minutes", str(a.min_overlap_minutes),
                       "--secondary" if a.secondary else "--no-secondary"]
                if a.as_of:
                    cmd += ["--as-of", a.as_of]
            wall, rss, rc, timed_out = run_measured(cmd, a.timeout, work / f"{s}.stdout", log)
            if timed_out:
                r["status"] = f"timeout > {a.timeout:.0f} s"
            elif rc != 0:
                r["status"] = f"failed (exit {rc}, see {log})"
            else:
                r["wall"].append(wall)
                r["rss"].append(rss)
                if s != "closedloop":
                    info = json.loads((work / f"{s}.stdout").read_text().strip().splitlines()[-1])
                    r["query"].append(info["seconds"])
                    r["steps"] = info.get("steps")
            detail = f"{wall:7.2f} s wall, {rss:8.0f} MB peak" if r["status"] == "ok" else r["status"]
            if r["query"] and s != "closedloop" and r["status"] == "ok":
                detail += f", {r['query'][-1]:7.2f} s in DuckDB"
            print(f"  run {rep + 1}/{reps} {s:<16} {detail}", flush=True)
            if r["status"] != "ok" and log.exists():
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                for t in tail:
                    print(f"      {t}")

    # Compare every finished output with the first one.
    done = [s for s in systems if results[s]["status"] == "ok"]
    equal = True
    report = []
    for s in done[1:]:
        ok, text = compare(done[0], outputs[done[0]], s, outputs[s])
        equal &= ok
        report.append(text)
    if done:
        rows, notes = load_output(outputs[done[0]])
        deg = [sum(1 for r in rows if r[1] == d) for d in (1, 2)]
        print(f"output of {done[0]}: {len(rows)} rows ({deg[0]} close contacts, {deg[1]} secondary)"
              + (f"; {'; '.join(notes)}" if notes else ""))
        equal &= not notes
    for line in report:
        print(line)

    if a.reference_only:
        if not done:
            print("no formulation finished")
            return 1
        dest = Path(a.out) if a.out else data / ("reference.csv" if a.secondary else "reference-primary.csv")
        shutil.copyfile(outputs[done[0]], dest)
        print(f"reference written: {dest}")
        return 0 if equal else 1

    def med(xs):
        return statistics.median(xs) if xs else math.nan

    base = med(results["closedloop"]["wall"]) if "closedloop" in results else math.nan
    print()
    print(f"{'system':<18} {'median s':>9} {'min s':>8} {'in-DuckDB s':>12} {'peak MB':>9} "
          f"{'ratio':>7}  status")
    for s in systems:
        r = results[s]
        w, q = med(r["wall"]), med(r["query"])
        ratio = (q if r["query"] else w) / base if s != "closedloop" and not math.isnan(base) else math.nan
        print(f"{s:<18} {w:9.2f} {min(r['wall'], default=math.nan):8.2f} "
              f"{q if s != 'closedloop' else math.nan:12.2f} {max(r['rss'], default=math.nan):9.0f} "
              f"{'' if math.isnan(ratio) else f'{ratio:6.1f}x':>7}  {r['status']}")
    print("ratio = DuckDB's median (time inside DuckDB, without Python start-up) / closedloop's "
          "median wall time" if "closedloop" in results else
          ("closedloop: not run (--duckdb-only)" if a.duckdb_only else
           "closedloop: pending (no `trace` subcommand); DuckDB only"))
    print(f"outputs equal: {'yes' if equal else 'NO'}")
    summary = {
        "date": dt.date.today().isoformat(), "size": a.size, "data": str(data), "meta": meta,
        "params": {"lookback_days": a.lookback_days, "buffer_minutes": a.buffer_minutes,
                   "min_overlap_minutes": a.min_overlap_minutes, "secondary": a.secondary, "as_of": a.as_of},
        "duckdb": duckdb.__version__, "threads": a.threads, "reps": reps, "equal": equal,
        "results": {s: {"median_wall_s": med(r["wall"]), "median_duckdb_s": med(r["query"]),
                        "wall_s": r["wall"], "duckdb_s": r["query"], "peak_rss_mb": max(r["rss"], default=None),
                        "status": r["status"], "steps_last_run": r["steps"]} for s, r in results.items()},
    }
    Path(a.json or work / "results.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 0 if equal and all(results[s]["status"] == "ok" for s in systems) else 1


if __name__ == "__main__":
    sys.exit(main())
