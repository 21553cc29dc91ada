-- The closed loop: facilities, managed records with their transitions and
-- scheduled tests, the command structure, tasks, and the audit hash chain.

-- The facility register. Room- and bed-level inventory comes later, as rows
-- below a facility (facility_id stays the key they hang from).
CREATE TABLE facilities (
    facility_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    region_code TEXT REFERENCES regions(code),
    address     TEXT NOT NULL DEFAULT '',
    capacity    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

-- A person managed in the loop under one category, from identification to the end.
CREATE TABLE managed (
    id             BIGSERIAL PRIMARY KEY,
    person_id      BIGINT NOT NULL REFERENCES persons(id),
    category       TEXT NOT NULL,
    state          TEXT NOT NULL,
    -- centralized or home (contacts): the profile's setting for the category.
    setting        TEXT,
    facility_id    TEXT REFERENCES facilities(facility_id),
    -- The jurisdiction responsible: the person's residence, else the case's reporting region.
    region_code    TEXT REFERENCES regions(code),
    -- The protocol profile that governs the record, as name@version.
    profile        TEXT NOT NULL,
    last_exposure  TEXT,
    quarantine_end TEXT,
    monitoring_end TEXT,
    -- For a case: the case. For a contact: the case that exposed them, and through whom.
    case_pk        BIGINT REFERENCES cases(id),
    source_case_pk BIGINT REFERENCES cases(id),
    source_person  BIGINT REFERENCES persons(id),
    identified_at  BIGINT NOT NULL,
    -- Deadline to be under control (a case: admitted).
    control_due    BIGINT NOT NULL,
    -- First time the record reached a controlled state.
    controlled_at  BIGINT,
    state_since    BIGINT NOT NULL,
    converted_to   BIGINT REFERENCES managed(id),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX managed_person ON managed(person_id);
CREATE INDEX managed_state ON managed(state, category);
CREATE INDEX managed_region ON managed(region_code);
CREATE INDEX managed_control_due ON managed(control_due);
-- Loop status counts by jurisdiction, and the open records past their deadline.
CREATE INDEX managed_region_category_state ON managed(region_code, category, state);
CREATE INDEX managed_uncontrolled ON managed(control_due) WHERE controlled_at IS NULL;

-- Every change of state: who, when, where, why.
CREATE TABLE transitions (
    id          BIGSERIAL PRIMARY KEY,
    managed_id  BIGINT NOT NULL REFERENCES managed(id),
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    facility_id TEXT REFERENCES facilities(facility_id),
    reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX transitions_managed ON transitions(managed_id, at);

-- Tests scheduled from the profile's test days, and their results.
CREATE TABLE loop_tests (
    id         BIGSERIAL PRIMARY KEY,
    managed_id BIGINT NOT NULL REFERENCES managed(id),
    stage      TEXT NOT NULL,
    day        BIGINT NOT NULL,
    due_date   TEXT NOT NULL,
    sampled_at BIGINT,
    -- negative or positive; NULL until known.
    result     TEXT,
    UNIQUE (managed_id, stage, day)
);
CREATE INDEX loop_tests_due ON loop_tests(due_date);
CREATE INDEX loop_tests_unsampled ON loop_tests(due_date) WHERE sampled_at IS NULL;

-- Command structure: a command per region (depth 0 = root), its working groups
-- (专项工作组) and teams, and who held each post when.
CREATE TABLE commands (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    region_code TEXT NOT NULL UNIQUE REFERENCES regions(code),
    depth       BIGINT NOT NULL,
    parent_id   BIGINT REFERENCES commands(id)
);

CREATE TABLE units (
    id          BIGSERIAL PRIMARY KEY,
    command_id  BIGINT NOT NULL REFERENCES commands(id),
    parent_unit BIGINT REFERENCES units(id),
    function    TEXT NOT NULL,
    name        TEXT NOT NULL,
    UNIQUE (command_id, function, name)
);

CREATE TABLE appointments (
    id         BIGSERIAL PRIMARY KEY,
    unit_id    BIGINT NOT NULL REFERENCES units(id),
    role       TEXT NOT NULL,
    official   TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_to   BIGINT
);
CREATE INDEX appointments_unit ON appointments(unit_id, role, valid_from);

-- Steps of the loop as tasks for the responsible unit.
CREATE TABLE tasks (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    managed_id  BIGINT REFERENCES managed(id),
    subject     TEXT NOT NULL DEFAULT '',
    region_code TEXT REFERENCES regions(code),
    unit_id     BIGINT REFERENCES units(id),
    priority    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    status      TEXT NOT NULL,
    done_at     BIGINT,
    reply       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tasks_status_due ON tasks(status, due_at);
CREATE INDEX tasks_open_due ON tasks(due_at) WHERE status = 'open';
CREATE INDEX tasks_managed ON tasks(managed_id);

-- The audit hash chain: each record holds its sequence number, the previous
-- record's hash and its own. audit_head is the one row every writer updates
-- first, so concurrent transactions take turns and the chain never forks.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY,
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
