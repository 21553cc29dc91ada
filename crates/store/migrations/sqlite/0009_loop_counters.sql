-- Counters of the closed loop, kept by every writer in the transaction that
-- changes what they count (crates/store/src/loop_counts.rs), so that loop
-- status reads a few hundred rows instead of scanning every managed record.
-- `Store::recount_loop` rebuilds them from the records.

-- Negative test results of each managed record (the release criteria count them).
ALTER TABLE managed ADD COLUMN negatives BIGINT NOT NULL DEFAULT 0;
UPDATE managed SET negatives = (SELECT COUNT(*) FROM loop_tests t WHERE t.managed_id = managed.id AND t.result = 'negative');

-- Managed records per jurisdiction (''= none), category, state and number of negatives.
CREATE TABLE loop_counts (
    region_code TEXT NOT NULL,
    category    TEXT NOT NULL,
    state       TEXT NOT NULL,
    negatives   BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (region_code, category, state, negatives)
);
INSERT INTO loop_counts (region_code, category, state, negatives, n)
SELECT COALESCE(region_code, ''), category, state, negatives, COUNT(*) FROM managed
GROUP BY COALESCE(region_code, ''), category, state, negatives;

-- Tests not yet sampled of records under quarantine or in home health
-- monitoring, per jurisdiction and due date: those due before today are missed.
CREATE TABLE loop_due_tests (
    region_code TEXT NOT NULL,
    due_date    TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (region_code, due_date)
);
INSERT INTO loop_due_tests (region_code, due_date, n)
SELECT COALESCE(m.region_code, ''), t.due_date, COUNT(*) FROM loop_tests t JOIN managed m ON m.id = t.managed_id
WHERE t.sampled_at IS NULL AND m.state IN ('under_quarantine', 'home_health_monitoring')
GROUP BY COALESCE(m.region_code, ''), t.due_date;

-- Open records not yet under control, by deadline (the not-under-control and
-- not-admitted leaks): covering, and only as large as the backlog.
CREATE INDEX managed_open_uncontrolled ON managed(control_due, region_code, category)
    WHERE controlled_at IS NULL AND state NOT IN ('released', 'converted_to_case', 'died', 'lost');

-- Open tasks by due time with their jurisdiction (the overdue count and list).
CREATE INDEX tasks_open_due_region ON tasks(due_at, region_code) WHERE status = 'open';

-- Region subtrees walked in SQL (scoped loop status).
CREATE INDEX loop_regions_parent ON regions(parent_code);

-- Occupancy of each facility (facilities list).
CREATE INDEX managed_facility_state ON managed(facility_id, state);

-- Bulk release: the records whose monitoring ended, by state and end date.
CREATE INDEX managed_state_monitoring_end ON managed(state, monitoring_end);
