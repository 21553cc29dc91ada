-- Regions, people, cases, imports and the audit log.
-- Instants are seconds since the Unix epoch (UTC); dates are 'YYYY-MM-DD' text.
CREATE TABLE regions (
    code        TEXT PRIMARY KEY,
    parent_code TEXT REFERENCES regions(code),
    level       TEXT NOT NULL,
    name_zh     TEXT NOT NULL,
    name_en     TEXT NOT NULL DEFAULT '',
    population  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE import_batches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    source     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    created    BIGINT NOT NULL,
    updated    BIGINT NOT NULL,
    unchanged  BIGINT NOT NULL,
    rejected   BIGINT NOT NULL
);

CREATE TABLE persons (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    document_type   TEXT NOT NULL,
    document_number TEXT NOT NULL,
    name            TEXT NOT NULL,
    sex             TEXT,
    birth_date      TEXT,
    phone           TEXT,
    address         TEXT,
    region_code     TEXT REFERENCES regions(code),
    household_id    TEXT,
    duplicate_key   TEXT,
    merged_into     BIGINT REFERENCES persons(id),
    import_batch    BIGINT REFERENCES import_batches(id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (document_type, document_number)
);
CREATE INDEX persons_duplicate_key ON persons(duplicate_key);
CREATE INDEX persons_name ON persons(name);
CREATE INDEX persons_phone ON persons(phone);
CREATE INDEX persons_region ON persons(region_code);
CREATE INDEX persons_household ON persons(household_id);

CREATE TABLE cases (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id           TEXT NOT NULL UNIQUE,
    person_id         BIGINT NOT NULL REFERENCES persons(id),
    classification    TEXT NOT NULL,
    clinical_type     TEXT,
    origin            TEXT NOT NULL,
    discovery_channel TEXT NOT NULL,
    onset_date        TEXT,
    sample_time       BIGINT,
    report_time       BIGINT NOT NULL,
    reporting_region  TEXT NOT NULL REFERENCES regions(code),
    residence_region  TEXT REFERENCES regions(code),
    reclassified_at   BIGINT,
    outcome           TEXT,
    outcome_time      BIGINT,
    import_batch      BIGINT REFERENCES import_batches(id),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX cases_report_time ON cases(report_time);
CREATE INDEX cases_reporting_region ON cases(reporting_region);
CREATE INDEX cases_person ON cases(person_id);

-- Every classification a case has had, from its report on.
CREATE TABLE case_classifications (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    case_pk        BIGINT NOT NULL REFERENCES cases(id),
    at             BIGINT NOT NULL,
    classification TEXT NOT NULL,
    clinical_type  TEXT
);
CREATE INDEX case_classifications_case ON case_classifications(case_pk);

CREATE TABLE person_merges (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kept_id     BIGINT NOT NULL REFERENCES persons(id),
    merged_id   BIGINT NOT NULL REFERENCES persons(id),
    moved_cases BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log(entity, entity_id);
