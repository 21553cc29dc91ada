-- The accountability report counts, per lapse, the contacts exposed through
-- the late person while uncontrolled (issue 4): by the person they were
-- exposed through, in a time range. Without this index each lapse scanned
-- every contact (5 s for 58 lapses over the demo's 160,000 contacts).
CREATE INDEX IF NOT EXISTS contacts_via_exposure ON contacts(via_person, first_exposure);
