-- 0004: approvals of held messages (queue.Oversight of package queue/pgqueue). A message
-- enqueued with an approval has a row here, written in its Enqueue transaction; its
-- recipients wait in mq_rcpt with status 'pending_approval' and it has no mq_unit row until
-- Approve. A decision updates the row in one transaction with the recipients, the units and
-- the events; the row lock (SELECT … FOR UPDATE) serialises nodes deciding the same approval.

CREATE TABLE mq_approval (
    id         text COLLATE "C" PRIMARY KEY,      -- apr_ + ULID: id order is creation order
    msg_id     text COLLATE "C" NOT NULL REFERENCES mq_message (id) ON DELETE CASCADE,
    state      text NOT NULL,                     -- pending | approved | rejected | cancelled
    data       bytea NOT NULL                     -- JSON of queue.ApprovalRecord (state included)
);
-- Approvals(state): the pending ones are what reviewers list.
CREATE INDEX mq_approval_state ON mq_approval (state, id);
-- A message may have several approvals over its life (a rule's approval, then a hold by
-- HoldInFlight after a restore): its current one is the latest (highest id).
CREATE INDEX mq_approval_msg ON mq_approval (msg_id, id);
