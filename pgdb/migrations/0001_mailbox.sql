-- 0001: the mailbox store (package mailbox/pgstore). Records the Pebble store keeps as JSON
-- are kept here as the same JSON in bytea (not jsonb: a header may hold bytes jsonb refuses).
-- Text columns that are compared or ordered use COLLATE "C" (byte order, as in Pebble).

-- Global counters: 'uidvalidity' (the last UIDVALIDITY handed out, so a recreated folder
-- never reuses one).
CREATE TABLE mm_counter (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO mm_counter (name, value) VALUES ('uidvalidity', 0);

CREATE TABLE mm_domain (
    name text COLLATE "C" PRIMARY KEY,
    data bytea NOT NULL -- JSON of mailbox.Domain (with its DKIM and identity keys)
);

-- version counts the committed changes of the mailbox's contents; every content transaction
-- starts by incrementing it, which also locks the row (the mailbox's writer lock across
-- nodes), and nodes poll it to see other nodes' changes.
CREATE TABLE mm_mailbox (
    address text COLLATE "C" PRIMARY KEY,
    data    bytea NOT NULL, -- JSON of mailbox.Mailbox
    policy  bytea,          -- JSON of mailbox.Policy; NULL = empty
    version bigint NOT NULL DEFAULT 0
);

CREATE TABLE mm_api_key (
    id   text COLLATE "C" PRIMARY KEY,
    hash text COLLATE "C" NOT NULL UNIQUE, -- hex SHA-256 of the secret
    data bytea NOT NULL                    -- JSON of mailbox.APIKey
);

-- A folder row is also its counter row: uid_next and highest_modseq are taken by an UPDATE in
-- the transaction that inserts or changes the email, so UIDs commit in the order they are
-- handed out (never from a SEQUENCE, whose values commit out of order).
CREATE TABLE mm_folder (
    id             bigserial PRIMARY KEY,
    mailbox        text COLLATE "C" NOT NULL,
    name           text COLLATE "C" NOT NULL,
    special_use    text NOT NULL,
    uid_validity   bigint NOT NULL,
    uid_next       bigint NOT NULL,
    highest_modseq bigint NOT NULL,
    subscribed     boolean NOT NULL,
    UNIQUE (mailbox, name)
);

CREATE TABLE mm_body (
    id  text COLLATE "C" PRIMARY KEY, -- the ID of the email delivered with it
    raw bytea NOT NULL
);

CREATE TABLE mm_email (
    id            text COLLATE "C" PRIMARY KEY, -- "em_" + ULID (Crockford base32 sorts as the raw bytes)
    mailbox       text COLLATE "C" NOT NULL,
    folder_id     bigint NOT NULL,
    uid           bigint NOT NULL,  -- 0 while pending
    modseq        bigint NOT NULL,
    pending       boolean NOT NULL,
    flags         text[] NOT NULL,  -- canonical system flags
    keywords      text[] NOT NULL,  -- as first spelled
    keywords_lc   text[] NOT NULL,  -- lower-cased, for the tag filter
    internal_date bigint NOT NULL,  -- Unix ns
    date_offset   integer NOT NULL, -- the InternalDate's zone offset in seconds
    size          bigint NOT NULL,
    body_id       text COLLATE "C" NOT NULL,
    thread_id     text COLLATE "C" NOT NULL,
    summary       bytea NOT NULL    -- JSON (strings as base64 bytes): From, To, Cc, Subject, MessageID, Date, AuthResults
);
CREATE UNIQUE INDEX mm_email_uid ON mm_email (folder_id, uid) WHERE uid > 0;
CREATE INDEX mm_email_pending ON mm_email (folder_id) WHERE pending;
CREATE INDEX mm_email_date ON mm_email (mailbox, internal_date, id);
CREATE INDEX mm_email_thread ON mm_email (mailbox, thread_id, internal_date, id);
CREATE INDEX mm_email_body ON mm_email (body_id);

-- Threading indexes (mailbox/thread.go): Message-IDs seen, and the last Re: target per
-- subject key. Kept when emails are expunged, like the Pebble store's 0e and 0f.
CREATE TABLE mm_thread_msgid (
    mailbox    text COLLATE "C" NOT NULL,
    message_id bytea NOT NULL,
    thread_id  text COLLATE "C" NOT NULL,
    PRIMARY KEY (mailbox, message_id)
);
CREATE TABLE mm_thread_subject (
    mailbox     text COLLATE "C" NOT NULL,
    subject_key bytea NOT NULL,
    thread_id   text COLLATE "C" NOT NULL,
    at          bigint NOT NULL, -- Unix ns
    PRIMARY KEY (mailbox, subject_key)
);
