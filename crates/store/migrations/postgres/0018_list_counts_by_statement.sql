-- The list counters of 0016 counted one row at a time, at the commit: a
-- statement inserting a million people queued a million updates of the same
-- counter row, and in one transaction every update of a row adds a version
-- the next must walk past (quadratic: loopbench's fill of 1M persons, 107 s
-- before, had not finished after 12 minutes). Now each statement adds its
-- rows' changes up by counter and updates each counter once.
--
-- Statement triggers cannot be deferred to the commit. Deadlocks between
-- writers updating counters in opposite orders are prevented as the rest of
-- the store prevents them: each counting statement first locks the audit
-- head row (every audited writer updates it), so transactions that count
-- take turns, and within a statement counters are updated in key order.

DROP TRIGGER person_counts_insert ON persons;
DROP TRIGGER person_counts_delete ON persons;
DROP TRIGGER person_counts_update ON persons;
DROP TRIGGER case_counts_insert ON cases;
DROP TRIGGER case_counts_delete ON cases;
DROP TRIGGER case_counts_update ON cases;
DROP FUNCTION count_person_change();
DROP FUNCTION count_case_change();

CREATE FUNCTION count_person_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM audit_head WHERE id = 1 FOR UPDATE;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO person_counts (region_code, n)
        SELECT COALESCE(region_code, ''), COUNT(*) FROM new_rows WHERE merged_into IS NULL
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (region_code) DO UPDATE SET n = person_counts.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO person_counts (region_code, n)
        SELECT COALESCE(region_code, ''), -COUNT(*) FROM old_rows WHERE merged_into IS NULL
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (region_code) DO UPDATE SET n = person_counts.n + EXCLUDED.n;
    ELSE
        INSERT INTO person_counts (region_code, n)
        SELECT region_code, SUM(d) FROM (
            SELECT COALESCE(region_code, '') AS region_code, -1 AS d FROM old_rows WHERE merged_into IS NULL
            UNION ALL
            SELECT COALESCE(region_code, ''), 1 FROM new_rows WHERE merged_into IS NULL
        ) c GROUP BY region_code HAVING SUM(d) <> 0 ORDER BY region_code
        ON CONFLICT (region_code) DO UPDATE SET n = person_counts.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER person_counts_insert AFTER INSERT ON persons
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_person_rows();
CREATE TRIGGER person_counts_delete AFTER DELETE ON persons
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_person_rows();
CREATE TRIGGER person_counts_update AFTER UPDATE ON persons
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_person_rows();

CREATE FUNCTION count_case_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM audit_head WHERE id = 1 FOR UPDATE;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_counts (reporting_region, classification, discovery_channel, origin, n)
        SELECT reporting_region, classification, discovery_channel, origin, COUNT(*) FROM new_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 2, 4
        ON CONFLICT (reporting_region, discovery_channel, classification, origin) DO UPDATE SET n = case_counts.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO case_counts (reporting_region, classification, discovery_channel, origin, n)
        SELECT reporting_region, classification, discovery_channel, origin, -COUNT(*) FROM old_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 2, 4
        ON CONFLICT (reporting_region, discovery_channel, classification, origin) DO UPDATE SET n = case_counts.n + EXCLUDED.n;
    ELSE
        INSERT INTO case_counts (reporting_region, classification, discovery_channel, origin, n)
        SELECT reporting_region, classification, discovery_channel, origin, SUM(d) FROM (
            SELECT reporting_region, classification, discovery_channel, origin, -1 AS d FROM old_rows
            UNION ALL
            SELECT reporting_region, classification, discovery_channel, origin, 1 FROM new_rows
        ) c GROUP BY 1, 2, 3, 4 HAVING SUM(d) <> 0 ORDER BY 1, 3, 2, 4
        ON CONFLICT (reporting_region, discovery_channel, classification, origin) DO UPDATE SET n = case_counts.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER case_counts_insert AFTER INSERT ON cases
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_case_rows();
CREATE TRIGGER case_counts_delete AFTER DELETE ON cases
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_case_rows();
CREATE TRIGGER case_counts_update AFTER UPDATE ON cases
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_case_rows();
