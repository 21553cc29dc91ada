-- Venues, check-ins and trip seats: movement data, expired after the retention period.
CREATE TABLE venues (
    venue_id     TEXT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    venue_type   TEXT NOT NULL,
    region_code  TEXT REFERENCES regions(code),
    lat          DOUBLE PRECISION,
    lon          DOUBLE PRECISION,
    import_batch BIGINT REFERENCES import_batches(id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE checkins (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id           BIGINT NOT NULL REFERENCES persons(id),
    venue_id            TEXT NOT NULL REFERENCES venues(venue_id),
    check_in            BIGINT NOT NULL,
    check_out           BIGINT NOT NULL,
    -- 1 when check_out was missing and comes from the venue type's typical stay.
    check_out_estimated BIGINT NOT NULL DEFAULT 0,
    import_batch        BIGINT REFERENCES import_batches(id),
    UNIQUE (person_id, venue_id, check_in, check_out)
);
CREATE INDEX checkins_venue_time ON checkins(venue_id, check_in);
CREATE INDEX checkins_person ON checkins(person_id);
CREATE INDEX checkins_check_out ON checkins(check_out);

CREATE TABLE trip_seats (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id    BIGINT NOT NULL REFERENCES persons(id),
    trip_id      TEXT NOT NULL,
    carriage     TEXT NOT NULL DEFAULT '',
    seat_row     BIGINT,
    recorded_at  BIGINT NOT NULL,
    import_batch BIGINT REFERENCES import_batches(id),
    UNIQUE (person_id, trip_id)
);
CREATE INDEX trip_seats_trip ON trip_seats(trip_id, carriage);
CREATE INDEX trip_seats_recorded ON trip_seats(recorded_at);
