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

// RecordCheck is one record of GET /v1/admin/domains/{name}/check, looked up live.
type RecordCheck struct {
	Purpose  string   `json:"purpose"`
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Expected string   `json:"expected"`
	Found    []string `json:"found"`  // what the resolver answered (TXT strings joined)
	Result   string   `json:"result"` // "ok" | "missing" | "wrong" | "error"
	Detail   string   `json:"detail,omitempty"`
}

// DomainCheck is the body of GET /v1/admin/domains/{name}/check. OK is true when every
// record's result is "ok".
type DomainCheck struct {
	Domain   string        `json:"domain"`
	Resolver []string      `json:"resolver,omitempty"` // the servers asked
	OK       bool          `json:"ok"`
	Records  []RecordCheck `json:"records"`
}
