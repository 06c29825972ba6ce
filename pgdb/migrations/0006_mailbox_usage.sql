-- 0006: mailbox usage (IMAP QUOTA, the delivery quota), as the Pebble store's m 13 key: the
-- sum of the sizes of a mailbox's emails and their number, pending ones and copies included.
-- Changed by the transaction that inserts or deletes the emails, under the mailbox row's lock
-- (UPDATE mm_mailbox SET usage_bytes = usage_bytes + …); backfilled here from mm_email.
ALTER TABLE mm_mailbox ADD COLUMN usage_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE mm_mailbox ADD COLUMN usage_messages bigint NOT NULL DEFAULT 0;
UPDATE mm_mailbox SET
    usage_bytes = (SELECT COALESCE(SUM(e.size), 0) FROM mm_email e WHERE e.mailbox = mm_mailbox.address),
    usage_messages = (SELECT COUNT(*) FROM mm_email e WHERE e.mailbox = mm_mailbox.address);
