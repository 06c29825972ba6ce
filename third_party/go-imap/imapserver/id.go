package imapserver

import (
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// handleID answers the ID command (RFC 2971), added by the multimail fork: the client's
// parameter list (or NIL) is read and discarded, the server's Options.ID is returned.
func (c *Conn) handleID(dec *imapwire.Decoder) error {
	if !dec.ExpectSP() {
		return dec.Err()
	}
	n := 0
	isList, err := dec.List(func() error {
		var key, value string
		if !dec.ExpectString(&key) || !dec.ExpectSP() || !dec.ExpectNString(&value) {
			return dec.Err()
		}
		if n++; n > 30 { // RFC 2971 section 3.3: at most 30 pairs
			return newClientBugError("too many ID parameters")
		}
		if len(key) > 30 || len(value) > 1024 {
			return newClientBugError("ID parameter too long")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !isList && !dec.ExpectNIL() {
		return dec.Err()
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ID").SP()
	id := c.server.options.ID
	var pairs []string
	if id != nil {
		for _, kv := range [][2]string{
			{"name", id.Name}, {"version", id.Version}, {"os", id.OS}, {"os-version", id.OSVersion},
			{"vendor", id.Vendor}, {"support-url", id.SupportURL}, {"address", id.Address},
			{"date", id.Date}, {"command", id.Command}, {"arguments", id.Arguments},
			{"environment", id.Environment},
		} {
			if kv[1] != "" {
				pairs = append(pairs, kv[0], kv[1])
			}
		}
	}
	if len(pairs) == 0 {
		enc.NIL()
	} else {
		enc.List(len(pairs)/2, func(i int) {
			enc.String(pairs[2*i]).SP().String(pairs[2*i+1])
		})
	}
	return enc.CRLF()
}
