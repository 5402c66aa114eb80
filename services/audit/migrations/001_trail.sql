-- The audit trail: rows appended by `duban run audit`, never updated or deleted by duban.

CREATE TABLE person_version (
    digest      text PRIMARY KEY,          -- sha256 of the canonical contact details
    person_id   text NOT NULL,
    details     text NOT NULL,             -- canonical JSON: name, mobile, email, chat ids
    first_seen  timestamptz NOT NULL
);
CREATE INDEX person_version_person ON person_version (person_id);

CREATE TABLE audit_row (
    seq          bigserial PRIMARY KEY,    -- append order
    event_id     text NOT NULL,
    source       text NOT NULL,
    subject      text NOT NULL,            -- the chain's key (the event's subject)
    root         text,                     -- hazard, unit or department of the story
    record_class text NOT NULL,            -- inbound, dead_letter, notice, receipt, acknowledgement
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    keep_until   timestamptz NOT NULL,     -- retention of the record class (audit.yaml)
    origin       text NOT NULL,            -- topic[partition]@offset
    body         text NOT NULL,            -- canonical JSON, contacts as person versions
    chain_no     bigint NOT NULL,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL,
    CONSTRAINT audit_row_event UNIQUE (event_id, source),
    CONSTRAINT audit_row_chain UNIQUE (subject, chain_no)
);
CREATE INDEX audit_row_root ON audit_row (root, occurred_at);
CREATE INDEX audit_row_occurred ON audit_row (occurred_at) WHERE record_class = 'notice';

-- The last row of each subject's chain: lets verify notice rows removed from the end.
CREATE TABLE chain_head (
    subject  text PRIMARY KEY,
    chain_no bigint NOT NULL,
    hash     bytea NOT NULL
);
