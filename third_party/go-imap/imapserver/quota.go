package imapserver

// multimail fork: the server side of QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT and SETQUOTA
// through the optional SessionQuota interface. Upstream beta.8 has only the client side
// (imapclient/quota.go). QUOTA and the QUOTA=RES-* capabilities are advertised only when
// Options.Caps has CapQuota and the session implements SessionQuota (forkcaps.go).

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// Resource capabilities (RFC 9208 §5): the resource types a server reports.
const (
	CapQuotaResStorage imap.Cap = "QUOTA=RES-STORAGE"
	CapQuotaResMessage imap.Cap = "QUOTA=RES-MESSAGE"
)

// QuotaResource is one resource of a quota root: its usage and limit, in the units of its
// type (STORAGE: 1024 octets, MESSAGE: messages; RFC 9208 §5).
type QuotaResource struct {
	Type  imap.QuotaResourceType
	Usage int64
	Limit int64
}

// QuotaData is one quota root and its resources (a QUOTA response).
type QuotaData struct {
	Root      string
	Resources []QuotaResource
}

// SessionQuota is an IMAP session which supports QUOTA (RFC 9208).
type SessionQuota interface {
	Session

	// QuotaRoot returns the quota roots of a mailbox with their resources
	// (GETQUOTAROOT); an unknown mailbox is an error (NO [NONEXISTENT]).
	QuotaRoot(mailbox string) ([]QuotaData, error)
	// Quota returns one quota root (GETQUOTA); an unknown root is an error.
	Quota(root string) (*QuotaData, error)
	// SetQuota changes a root's limits (SETQUOTA). A server whose limits are not the
	// user's to change returns NO [CANNOT].
	SetQuota(root string, limits map[imap.QuotaResourceType]int64) error
}

// quotaSession returns the session's SessionQuota when QUOTA is enabled.
func (c *Conn) quotaSession() (SessionQuota, bool) {
	sess, ok := c.session.(SessionQuota)
	if !ok || !c.server.options.caps().Has(imap.CapQuota) {
		return nil, false
	}
	return sess, true
}

// handleQuota parses and answers
//
//	getquota     = "GETQUOTA" SP quota-root
//	getquotaroot = "GETQUOTAROOT" SP mailbox
//	setquota     = "SETQUOTA" SP quota-root SP setquota-list
//
// (RFC 9208 §9); name is the upper-cased command name.
func (c *Conn) handleQuota(name string, dec *imapwire.Decoder) error {
	sess, ok := c.quotaSession()
	if !ok {
		return newClientBugError("Unknown command")
	}
	var arg string
	if !dec.ExpectSP() {
		return dec.Err()
	}
	if name == "GETQUOTAROOT" {
		if !dec.ExpectMailbox(&arg) {
			return dec.Err()
		}
	} else if !dec.ExpectAString(&arg) {
		return dec.Err()
	}
	var limits map[imap.QuotaResourceType]int64
	if name == "SETQUOTA" {
		var err error
		if limits, err = readSetQuotaList(dec); err != nil {
			return err
		}
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	switch name {
	case "GETQUOTAROOT":
		data, err := sess.QuotaRoot(arg)
		if err != nil {
			return err
		}
		return c.writeQuotaRoot(arg, data)
	case "GETQUOTA":
		data, err := sess.Quota(arg)
		if err != nil {
			return err
		}
		return c.writeQuota(data)
	default:
		return sess.SetQuota(arg, limits)
	}
}

// readSetQuotaList reads setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
// with setquota-resource = resource-name SP resource-limit (RFC 9208 §9). A resource named
// twice is BAD.
func readSetQuotaList(dec *imapwire.Decoder) (map[imap.QuotaResourceType]int64, error) {
	if !dec.ExpectSP() {
		return nil, dec.Err()
	}
	limits := make(map[imap.QuotaResourceType]int64)
	err := dec.ExpectList(func() error {
		var name string
		var limit int64
		if !dec.ExpectAtom(&name) || !dec.ExpectSP() || !dec.ExpectNumber64(&limit) {
			return dec.Err()
		}
		t := imap.QuotaResourceType(strings.ToUpper(name))
		if _, dup := limits[t]; dup {
			return newClientBugError("Resource named twice in SETQUOTA")
		}
		limits[t] = limit
		return nil
	})
	return limits, err
}

// writeQuotaRoot writes "* QUOTAROOT mailbox root…" and a QUOTA response per root.
func (c *Conn) writeQuotaRoot(mailbox string, data []QuotaData) error {
	enc := newResponseEncoder(c)
	enc.Atom("*").SP().Atom("QUOTAROOT").SP().Mailbox(mailbox)
	for _, d := range data {
		enc.SP().String(d.Root)
	}
	err := enc.CRLF()
	enc.end()
	if err != nil {
		return err
	}
	for i := range data {
		if err := c.writeQuota(&data[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeQuota writes "* QUOTA root (resource usage limit …)" (RFC 9208 §7.1).
func (c *Conn) writeQuota(d *QuotaData) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("QUOTA").SP().String(d.Root).SP()
	enc.List(len(d.Resources), func(i int) {
		r := d.Resources[i]
		enc.Atom(string(r.Type)).SP().Number64(r.Usage).SP().Number64(r.Limit)
	})
	return enc.CRLF()
}
