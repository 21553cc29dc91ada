-- The console's counts without reading the tables (measured at 1M persons /
-- 300k cases on PostgreSQL): people not merged away by region (the person
-- list and its count), cases by loop state (the case list's state filter),
-- and cases by classification within a report-date range.
CREATE INDEX persons_live_region ON persons(region_code, id) WHERE merged_into IS NULL;
CREATE INDEX managed_category_state_case ON managed(category, state, case_pk);
CREATE INDEX cases_classification_report ON cases(classification, report_time);
