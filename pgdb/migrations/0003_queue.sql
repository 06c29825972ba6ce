-- 0003: the delivery queue core (package queue/pgqueue). Times that decide leasing and
-- retries (due, lease_expires, backoff_until, next_attempt of the outbox) are written from
-- the database's clock (now()), never a node's. Ids and addresses compare in byte order.

-- One row per message. body is NULL once every recipient is final.
CREATE TABLE mq_message (
    id        text COLLATE "C" PRIMARY KEY,      -- msg_ + ULID
    mailbox   text COLLATE "C" NOT NULL,
    data      bytea NOT NULL,                    -- JSON: from, subject, lane, tags, expires_at, send_at, source, size, require_tls
    body      bytea,
    queued_at timestamptz NOT NULL DEFAULT now()
);

-- One row per recipient of a message.
CREATE TABLE mq_rcpt (
    msg_id        text COLLATE "C" NOT NULL REFERENCES mq_message (id) ON DELETE CASCADE,
    idx           integer NOT NULL,
    address       text COLLATE "C" NOT NULL,
    domain        text COLLATE "C" NOT NULL,
    status        text NOT NULL,                 -- queued | deferred | delivered | bounced | failed | expired
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt  timestamptz,
    last_code     integer NOT NULL DEFAULT 0,
    last_enhanced text NOT NULL DEFAULT '',
    last_detail   text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (msg_id, idx)
);

-- The schedule and the leases: one row per (message, recipient domain) with a pending
-- recipient. Ready when due <= now() and not leased (lease_expires NULL or past). lease_gen
-- is the fencing generation: every lease increments it, and every write under a lease
-- checks it (with lease_id and lease_expires > now()), so a node cannot complete a lease it
-- lost.
CREATE TABLE mq_unit (
    msg_id        text COLLATE "C" NOT NULL REFERENCES mq_message (id) ON DELETE CASCADE,
    domain        text COLLATE "C" NOT NULL,
    lane          smallint NOT NULL,             -- queue.Lane: 0 normal, 1 high, 2 low
    due           timestamptz NOT NULL,
    lease_id      text COLLATE "C",
    lease_gen     bigint NOT NULL DEFAULT 0,
    lease_expires timestamptz,
    PRIMARY KEY (msg_id, domain)
);
CREATE INDEX mq_unit_ready ON mq_unit (lane, due);
CREATE INDEX mq_unit_domain ON mq_unit (domain, lease_expires);
CREATE INDEX mq_unit_lease ON mq_unit (lease_id); -- the heartbeat renews by lease id

-- Per recipient domain, shared by every node: the consecutive connection-level failures and
-- the backoff they impose. Its row is also the lock that serialises leasing in the domain,
-- so PerDomainConcurrency holds across nodes.
CREATE TABLE mq_domain (
    domain        text COLLATE "C" PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    backoff_until timestamptz
);

-- Idempotency keys, unique across nodes by the primary key; ignored after 24 hours.
CREATE TABLE mq_idem (
    mailbox      text COLLATE "C" NOT NULL,
    key          text COLLATE "C" NOT NULL,
    request_hash text NOT NULL,
    msg_id       text COLLATE "C" NOT NULL,
    status       text NOT NULL,
    queued_at    timestamptz NOT NULL,
    created      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox, key)
);

-- The journal: per subject (a message id, or the email id of "received") a counter row
-- updated in the transaction that appends, so sequence numbers commit in order.
CREATE TABLE mq_subject (
    subject  text COLLATE "C" PRIMARY KEY,
    last_seq bigint NOT NULL
);
CREATE TABLE mq_event (
    subject text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL,
    data    bytea NOT NULL,                      -- JSON of queue.Event
    PRIMARY KEY (subject, seq)
);

-- The webhook outbox: one row per (subscriber, event), written with the event, deleted when
-- acknowledged. The webhook-id is subject.seq, the same on every node. busy_until keeps an
-- item handed out by OutboxDue from being handed out again (by any node) until it passes.
CREATE TABLE mq_outbox (
    subscriber   text COLLATE "C" NOT NULL,
    subject      text COLLATE "C" NOT NULL,
    seq          bigint NOT NULL,
    data         bytea NOT NULL,                 -- JSON of queue.Event
    attempts     integer NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL DEFAULT now(),
    first_try    timestamptz NOT NULL DEFAULT now(),
    busy_until   timestamptz NOT NULL DEFAULT '-infinity',
    last_err     text NOT NULL DEFAULT '',
    PRIMARY KEY (subscriber, subject, seq)
);
CREATE INDEX mq_outbox_due ON mq_outbox (next_attempt);

-- Secrets shared by every node: 'verp' is the key of VERP return paths and unsubscribe
-- tokens (JSON {key, created}), made by the first node that opens the queue, so a bounce or
-- an unsubscribe that reaches any node verifies.
CREATE TABLE mq_secret (
    name text COLLATE "C" PRIMARY KEY,
    data bytea NOT NULL
);

-- The suppression list, per sending domain (queue.Suppression as JSON: reason, detail,
-- msg_id, created_at, expires_at), listed in address byte order.
CREATE TABLE mq_suppress (
    domain  text COLLATE "C" NOT NULL,
    address text COLLATE "C" NOT NULL, -- lower case
    data    bytea NOT NULL,
    PRIMARY KEY (domain, address)
);
