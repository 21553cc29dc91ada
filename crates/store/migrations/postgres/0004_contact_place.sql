-- Where a contact was first exposed (the first explanation's kind and place),
-- as columns: clusters read them for every contact between cases without
-- parsing the explanation. Rows traced before this migration have NULL here
-- and are read from their explanation.
ALTER TABLE contacts ADD COLUMN place_kind TEXT;
ALTER TABLE contacts ADD COLUMN place TEXT;
-- Covers the clusters' read (close contacts of degree 1 who are cases) without touching the explanations.
CREATE INDEX contacts_between_cases ON contacts(category, degree, person_id, first_exposure, case_pk, place_kind, place);
