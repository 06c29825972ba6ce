package wire

import "time"

// DomainRequest is the body of POST /v1/admin/domains.
type DomainRequest struct {
	Name         string `json:"name"`
	DKIMSelector string `json:"dkim_selector,omitempty"` // default "mm1"
	KeyType      string `json:"key_type,omitempty"`      // "rsa" (default, 2048 bits) | "ed25519"
}

// Domain is a sender domain as the admin endpoints report it.
type Domain struct {
	Name         string    `json:"name"`
	DKIMSelector string    `json:"dkim_selector"`
	KeyType      string    `json:"key_type"`
	CreatedAt    time.Time `json:"created_at"`
	DNS          *DNS      `json:"dns,omitempty"`
}

// DomainList is the body of GET /v1/admin/domains.
type DomainList struct {
	Domains []Domain `json:"domains"`
}

// DNSRecord is one record to publish.
type DNSRecord struct {
	Purpose string `json:"purpose"`        // "mx" | "spf" | "dkim" | "identity" | "dmarc" | "mta-sts" | "mta-sts-host" | "tls-rpt" | "pool-ptr" | "pool-helo"
	Name    string `json:"name"`           // fully qualified, with a trailing dot
	Type    string `json:"type"`           // "MX" | "TXT" | "CNAME" | "PTR" | "A" | "AAAA"
	Value   string `json:"value"`          // MX: "10 host."; TXT: the unquoted text (split in 255-byte strings only in Text); CNAME: "host."
	Note    string `json:"note,omitempty"` // why this value (DMARC's p=none, the MTA-STS host's certificate)
}

// DNS is the body of GET /v1/admin/domains/{name}/dns: the records as data and as zone-file text.
type DNS struct {
	Domain  string      `json:"domain"`
	Records []DNSRecord `json:"records"`
	Text    string      `json:"text"`
	// Advice is what is not a record of the domain's zone: reverse DNS (PTR) of the host.
	Advice []string `json:"advice,omitempty"`
	// MTASTSPolicy is the policy served at https://mta-sts.<domain>/.well-known/mta-sts.txt.
	MTASTSPolicy string `json:"mta_sts_policy,omitempty"`
}

// MailboxRequest is the body of POST /v1/admin/mailboxes.
type MailboxRequest struct {
	Address          string `json:"address"`
	Oversight        string `json:"oversight,omitempty"` // default gated_send
	OversightAddress string `json:"oversight_address,omitempty"`
	Password         string `json:"password,omitempty"` // absent: one is generated and returned once
}

// Mailbox is a mailbox as the admin endpoints report it. Password is set only in the response
// to a create that generated it.
type Mailbox struct {
	MailboxID        string    `json:"mailbox_id"`
	Address          string    `json:"address"`
	Oversight        string    `json:"oversight"`
	OversightAddress string    `json:"oversight_address,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	Password         string    `json:"password,omitempty"`
}

// MailboxList is the body of GET /v1/admin/mailboxes.
type MailboxList struct {
	Mailboxes []Mailbox `json:"mailboxes"`
}

// KeyRequest is the body of POST /v1/admin/keys. Mailbox "*" makes a key for every mailbox.
type KeyRequest struct {
	Mailbox   string   `json:"mailbox"`
	Mailboxes []string `json:"mailboxes,omitempty"` // alternative to mailbox: several
	Scopes    []string `json:"scopes,omitempty"`    // default ["send","read","tag"]
	// Test makes a test key ("mm_test_…"): its sends go through validation, oversight, signing
	// (an unpublished test selector), events and webhooks ("test": true) and are never
	// delivered. A test key holds send, read and tag only.
	Test bool `json:"test,omitempty"`
}

// Key is an API key as the admin endpoints report it. APIKey (the plaintext) is set only in
// the response to its creation; only its hash is stored.
type Key struct {
	KeyID     string    `json:"key_id"`
	Mailboxes []string  `json:"mailboxes"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	Test      bool      `json:"test,omitempty"` // a test key: its sends are never delivered
	APIKey    string    `json:"api_key,omitempty"`
}

// KeyList is the body of GET /v1/admin/keys.
type KeyList struct {
	Keys []Key `json:"keys"`
}

// Done is the body of admin actions with nothing else to say (retry, delete).
type Done struct {
	MessageID string `json:"message_id,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
	Status    string `json:"status"`
}
