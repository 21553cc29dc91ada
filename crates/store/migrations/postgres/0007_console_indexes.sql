-- Indexes for the console's lists at scale (300k cases, 1M persons): the case
-- list filtered by jurisdiction and report date and sorted by its columns
-- (ties broken by case id), the loop state of a case, a person's household,
-- search by document number without its type, transitions by record.
CREATE INDEX cases_region_report_time ON cases(reporting_region, report_time, case_id);
CREATE INDEX cases_report_time_case_id ON cases(report_time, case_id);
CREATE INDEX cases_classification_sort ON cases(classification, case_id);
CREATE INDEX cases_discovery_channel_sort ON cases(discovery_channel, case_id);
CREATE INDEX cases_onset_date_sort ON cases(onset_date, case_id);
CREATE INDEX managed_case_state ON managed(case_pk, category, state);
CREATE INDEX persons_document_number ON persons(document_number);
CREATE INDEX persons_address ON persons(address);
CREATE INDEX persons_region_id ON persons(region_code, id);
-- A name prefix (LIKE 'x%') uses an index under any database collation only
-- with the pattern operator class.
CREATE INDEX persons_name_pattern ON persons(name text_pattern_ops);
