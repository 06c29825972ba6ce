package wire

// AuditPage is GET /v1/audit: export lines of the audit journal (docs/audit.md), each the
// exact bytes the journal hashes, carried as strings so no JSON re-encoding can change them.
type AuditPage struct {
	Lines      []string `json:"lines"`
	NextCursor string   `json:"next_cursor,omitempty"`
}
