-- A task about a managed record names its person too (issue 4): the overdue
-- list shows whom each task is about, and reading the person through the
-- managed record cost four buffer visits per task (index and heap of
-- `managed`), four fifths of the list's work at 5,000 overdue tasks. A
-- managed record's person never changes (a merge moves cases, not managed
-- records), so the copy cannot go stale; every writer of `tasks` sets it.
ALTER TABLE tasks ADD COLUMN person_id BIGINT REFERENCES persons(id);
UPDATE tasks SET person_id = (SELECT m.person_id FROM managed m WHERE m.id = tasks.managed_id)
 WHERE managed_id IS NOT NULL;
