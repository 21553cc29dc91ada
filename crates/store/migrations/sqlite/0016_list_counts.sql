-- The console lists' counts from counters (issue 5): counting a district's
-- people or a city's cases of one channel read up to 10,001 index entries
-- per page (the capped count), most of a list page's database time at 1M
-- persons / 300k cases. These counters hold the same numbers, grouped by
-- what the lists filter on, so a count reads a few rows per region code.
-- Triggers keep them, so every writer (imports, merges, conversions, the
-- CLI, SQL) counts without knowing; SQLite runs one writer at a time, so
-- they run at once (PostgreSQL defers them to the commit).

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

CREATE TRIGGER person_counts_insert AFTER INSERT ON persons WHEN NEW.merged_into IS NULL
BEGIN
    INSERT INTO person_counts (region_code, n) VALUES (COALESCE(NEW.region_code, ''), 1)
    ON CONFLICT (region_code) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER person_counts_delete AFTER DELETE ON persons WHEN OLD.merged_into IS NULL
BEGIN
    UPDATE person_counts SET n = n - 1 WHERE region_code = COALESCE(OLD.region_code, '');
END;
CREATE TRIGGER person_counts_update AFTER UPDATE OF region_code, merged_into ON persons
    WHEN OLD.region_code IS NOT NEW.region_code OR (OLD.merged_into IS NULL) <> (NEW.merged_into IS NULL)
BEGIN
    UPDATE person_counts SET n = n - 1
    WHERE OLD.merged_into IS NULL AND region_code = COALESCE(OLD.region_code, '');
    INSERT INTO person_counts (region_code, n) SELECT COALESCE(NEW.region_code, ''), 1 WHERE NEW.merged_into IS NULL
    ON CONFLICT (region_code) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER case_counts_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO case_counts (reporting_region, classification, discovery_channel, origin, n)
    VALUES (NEW.reporting_region, NEW.classification, NEW.discovery_channel, NEW.origin, 1)
    ON CONFLICT (reporting_region, discovery_channel, classification, origin) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER case_counts_delete AFTER DELETE ON cases
BEGIN
    UPDATE case_counts SET n = n - 1
    WHERE reporting_region = OLD.reporting_region AND discovery_channel = OLD.discovery_channel
      AND classification = OLD.classification AND origin = OLD.origin;
END;
CREATE TRIGGER case_counts_update AFTER UPDATE OF reporting_region, classification, discovery_channel, origin ON cases
    WHEN OLD.reporting_region IS NOT NEW.reporting_region OR OLD.classification IS NOT NEW.classification
      OR OLD.discovery_channel IS NOT NEW.discovery_channel OR OLD.origin IS NOT NEW.origin
BEGIN
    UPDATE case_counts SET n = n - 1
    WHERE reporting_region = OLD.reporting_region AND discovery_channel = OLD.discovery_channel
      AND classification = OLD.classification AND origin = OLD.origin;
    INSERT INTO case_counts (reporting_region, classification, discovery_channel, origin, n)
    VALUES (NEW.reporting_region, NEW.classification, NEW.discovery_channel, NEW.origin, 1)
    ON CONFLICT (reporting_region, discovery_channel, classification, origin) DO UPDATE SET n = n + 1;
END;
