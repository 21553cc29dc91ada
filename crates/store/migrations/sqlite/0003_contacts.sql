-- Contacts computed for a case: who, in which category, since when and why.
ALTER TABLE cases ADD COLUMN isolated_at BIGINT;

CREATE TABLE contacts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    case_pk        BIGINT NOT NULL REFERENCES cases(id),
    person_id      BIGINT NOT NULL REFERENCES persons(id),
    category       TEXT NOT NULL,
    degree         BIGINT NOT NULL,
    first_exposure BIGINT NOT NULL,
    via_person     BIGINT NOT NULL REFERENCES persons(id),
    -- JSON list of explanations (closedloop_domain::contact::Explanation).
    explanation    TEXT NOT NULL,
    -- The protocol profile that governed the tracing, as name@version.
    profile        TEXT NOT NULL,
    traced_at      BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (case_pk, person_id)
);
CREATE INDEX contacts_person ON contacts(person_id);
