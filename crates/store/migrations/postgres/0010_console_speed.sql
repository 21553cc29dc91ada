-- The case list under load (issue 5): each filter the console offers walks
-- an index in the list's order (report time, then case id) and stops after
-- the page, and the capped count reads at most 10,001 index entries.
CREATE INDEX cases_classification_report_case ON cases(classification, report_time, case_id);
CREATE INDEX cases_channel_report_case ON cases(discovery_channel, report_time, case_id);
CREATE INDEX cases_channel_region_report_case ON cases(discovery_channel, reporting_region, report_time, case_id);
