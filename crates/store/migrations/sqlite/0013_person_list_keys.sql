-- A person list page reads its ids first (issue 5): in id order, the region
-- tested in the index itself, so a district's page of a million people
-- visits no table rows (PostgreSQL cannot use an IN list of a subtree's codes
-- on a second index column as a range, only as a filter).
CREATE INDEX IF NOT EXISTS persons_live_id_region ON persons(id, region_code) WHERE merged_into IS NULL;
