-- 0005: the test outbox of package queue/pgqueue (queue.TestOutboxReader). A test message
-- (Message.Test) is never leased: when a unit of it is due, the node that picks it marks its
-- recipients delivered to the test sink and, in that transaction, writes or updates the
-- message's row here with a copy of its body, so the queue's body is still dropped when every
-- recipient is final. A row lives until expires (first sink delivery + TestRetention).

CREATE TABLE mq_testout (
    mailbox      text COLLATE "C" NOT NULL,       -- lower case
    msg_id       text COLLATE "C" NOT NULL,       -- msg_ + ULID: id order is enqueue order
    data         bytea NOT NULL,                  -- JSON: to, subject, queued_at, delivered_at, size
    body         bytea NOT NULL,
    expires      timestamptz NOT NULL,
    PRIMARY KEY (mailbox, msg_id)
);
-- Pruning by expiry across mailboxes (Open) and within one (each sink delivery).
CREATE INDEX mq_testout_expires ON mq_testout (expires);
