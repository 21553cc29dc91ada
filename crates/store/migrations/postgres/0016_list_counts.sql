-- The console lists' counts from counters (issue 5): counting a district's
-- people or a city's cases of one channel read up to 10,001 index entries
-- per page (the capped count), most of a list page's database time at 1M
-- persons / 300k cases. These counters hold the same numbers, grouped by
-- what the lists filter on, so a count reads a few rows per region code.
--
-- Triggers keep them, so every writer (imports, merges, conversions, the
-- CLI, SQL) counts without knowing. On PostgreSQL they are deferred to the
-- commit: by then an audited transaction holds the audit head row (updated
-- first by every writer, see ARCHITECTURE.md), so transactions update the
-- counters one after the other, never holding one counter while waiting for
-- another (two imports updating counter rows in opposite orders during their
-- transactions would deadlock). A counter's `n` is the sum of the changes.

-- People not merged away, by region ('' for none).
CREATE TABLE person_counts (
    region_code TEXT PRIMARY KEY,
    n           BIGINT NOT NULL
);
INSERT INTO person_counts (region_code, n)
SELECT COALESCE(region_code, ''), COUNT(*) FROM persons WHERE merged_into IS NULL GROUP BY COALESCE(region_code, '');

-- Cases by every column the case list filters on by equality.
CREATE TABLE case_counts (
    reporting_region  TEXT NOT NULL,
    classification    TEXT NOT NULL,
    discovery_channel TEXT NOT NULL,
    origin            TEXT NOT NULL,
    n                 BIGINT NOT NULL,
    PRIMARY KEY (reporting_region, discovery_channel, classification, origin)
);
INSERT INTO case_counts (reporting_region, classification, discovery_channel, origin, n)
SELECT reporting_region, classification, discovery_channel, origin, COUNT(*) FROM cases
GROUP BY reporting_region, classification, discovery_channel, origin;

CREATE FUNCTION count_person_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.merged_into IS NULL THEN
        UPDATE person_counts SET n = n - 1 WHERE region_code = COALESCE(OLD.region_code, '');
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.merged_into IS NULL THEN
        INSERT INTO person_counts (region_code, n) VALUES (COALESCE(NEW.region_code, ''), 1)
        ON CONFLICT (region_code) DO UPDATE SET n = person_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER person_counts_insert AFTER INSERT ON persons
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_person_change();
CREATE CONSTRAINT TRIGGER person_counts_delete AFTER DELETE ON persons
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_person_change();
-- Only changes that move a person between counters: most updates (names,
-- phones) queue nothing.
CREATE CONSTRAINT TRIGGER person_counts_update AFTER UPDATE ON persons
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.region_code IS DISTINCT FROM NEW.region_code OR (OLD.merged_into IS NULL) <> (NEW.merged_into IS NULL))
    EXECUTE FUNCTION count_person_change();

CREATE FUNCTION count_case_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE case_counts SET n = n - 1
        WHERE reporting_region = OLD.reporting_region AND discovery_channel = OLD.discovery_channel
          AND classification = OLD.classification AND origin = OLD.origin;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO case_counts (reporting_region, classification, discovery_channel, origin, n)
        VALUES (NEW.reporting_region, NEW.classification, NEW.discovery_channel, NEW.origin, 1)
        ON CONFLICT (reporting_region, discovery_channel, classification, origin) DO UPDATE SET n = case_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER case_counts_insert AFTER INSERT ON cases
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_case_change();
CREATE CONSTRAINT TRIGGER case_counts_delete AFTER DELETE ON cases
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_case_change();
CREATE CONSTRAINT TRIGGER case_counts_update AFTER UPDATE ON cases
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.reporting_region IS DISTINCT FROM NEW.reporting_region OR OLD.classification IS DISTINCT FROM NEW.classification
          OR OLD.discovery_channel IS DISTINCT FROM NEW.discovery_channel OR OLD.origin IS DISTINCT FROM NEW.origin)
    EXECUTE FUNCTION count_case_change();
