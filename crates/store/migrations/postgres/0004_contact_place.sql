-- Where a contact was first exposed (the first explanation's kind and place),
-- as columns: clusters read them for every contact between cases without
-- parsing the explanation. Rows traced before this migration have NULL here
-- and are read from their explanation.
ALTER TABLE contacts ADD COLUMN place_kind TEXT;
ALTER TABLE contacts ADD COLUMN place TEXT;
