-- Grows a demo database to the console benchmark's size: :persons people and
-- :cases cases in all, spread over the demo's districts and over March–April
-- 2022, each case with its first classification. Synthetic rows are marked
-- by the 'BENCH' document prefix.
\set ON_ERROR_STOP on
BEGIN;
-- The list counters (person_counts, case_counts) are kept by the tables'
-- statement triggers (migration 0018): each INSERT below counts its rows once.
CREATE TEMP TABLE districts AS
  SELECT row_number() OVER (ORDER BY code) - 1 AS k, code FROM regions WHERE level = 'district';
INSERT INTO persons (document_type, document_number, name, sex, birth_date, phone, address,
                     region_code, household_id, created_at, updated_at)
SELECT 'other', 'BENCH' || i, '测试' || (i % 9973), CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END,
       (1940 + i % 80) || '-0' || (1 + i % 9) || '-1' || (i % 10), '139' || lpad((i % 100000000)::text, 8, '0'),
       '长春市某路' || (i % 5000) || '号', d.code, 'BH' || (i / 3), 0, 0
FROM generate_series(1, GREATEST(0, :persons - (SELECT count(*) FROM persons))) AS i
JOIN districts d ON d.k = i % (SELECT count(*) FROM districts);
INSERT INTO cases (case_id, person_id, classification, clinical_type, origin, discovery_channel,
                   onset_date, sample_time, report_time, reporting_region, residence_region,
                   created_at, updated_at)
SELECT 'BENCH-' || p.id,
       p.id,
       CASE WHEN p.id % 5 < 2 THEN 'confirmed' ELSE 'asymptomatic' END,
       CASE WHEN p.id % 5 < 2 THEN 'mild' ELSE NULL END,
       'local',
       (ARRAY['centralized_quarantine','home_quarantine','sealed_or_controlled_area','community_screening','fever_clinic'])[1 + p.id % 5],
       NULL,
       1646092800 + (p.id % 61) * 86400 + 3600,
       1646092800 + (p.id % 61) * 86400 + 7200 + (p.id % 50000),
       p.region_code, p.region_code, 0, 0
FROM persons p
WHERE p.document_number LIKE 'BENCH%'
  AND p.id % 3 = 0
ORDER BY p.id
LIMIT GREATEST(0, :cases - (SELECT count(*) FROM cases));
INSERT INTO case_classifications (case_pk, at, classification, clinical_type)
SELECT c.id, c.report_time, c.classification, c.clinical_type FROM cases c
WHERE c.case_id LIKE 'BENCH-%';
COMMIT;
-- What autovacuum would do soon after such a load: statistics, and the
-- visibility map that lets counts read the indexes only.
VACUUM ANALYZE;
SELECT (SELECT count(*) FROM persons) AS persons, (SELECT count(*) FROM cases) AS cases;
