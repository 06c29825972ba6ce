package wire

// MailboxDeleted is the body of DELETE /v1/admin/mailboxes/{address}: what went with it.
type MailboxDeleted struct {
	Address        string   `json:"address"`
	Status         string   `json:"status"` // "deleted"
	EmailsDeleted  int      `json:"emails_deleted"`
	FoldersDeleted int      `json:"folders_deleted"`
	KeysRevoked    []string `json:"keys_revoked"`
	// QueuedOutbound counts this mailbox's outbound messages still queued, deferred or held:
	// they stay in the queue (delivered, or decided) unless deleted with the queue's DELETE.
	QueuedOutbound int    `json:"queued_outbound"`
	Note           string `json:"note,omitempty"`
}

// DomainDeleted is the body of DELETE /v1/admin/domains/{name}.
type DomainDeleted struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "deleted"
	Note   string `json:"note,omitempty"`
}
