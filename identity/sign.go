package identity

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// SignedHeaders is the h= list of the identity signature. Multimail-Identity and From are
// listed twice (oversigned: a second instance added in transit breaks the signature); fields
// a message lacks are listed too, which forbids adding them.
func SignedHeaders() []string {
	return []string{
		FieldName, FieldName, "From", "From", "To", "Cc", "Subject", "Date", "Message-ID",
		"Reply-To", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	}
}

// RequiredHeaders must each appear in h= (From and Multimail-Identity at least twice) for
// Verify to accept an identity signature.
var RequiredHeaders = []string{FieldName, FieldName, "From", "From", "To", "Subject", "Date", "Message-ID"}

// Sign removes every Multimail-Identity field of msg and every DKIM-Signature that covers one
// (an identity signature from an earlier release, e.g. of a message held again after a restore,
// would no longer verify), prepends ours with value h, then the identity DKIM-Signature by key
// for domain/selector (relaxed/relaxed, ed25519-sha256, no l=).
// domain must be the domain of h.Mailbox, which is the From address.
func Sign(msg []byte, h Header, domain, selector string, key ed25519.PrivateKey) ([]byte, error) {
	v, err := h.Format()
	if err != nil {
		return nil, err
	}
	if _, d, _ := strings.Cut(strings.ToLower(h.Mailbox), "@"); d != strings.ToLower(domain) {
		return nil, fmt.Errorf("identity: signing domain %s is not the mailbox's (%s)", domain, h.Mailbox)
	}
	msg = RemoveFields(msg, FieldName)
	msg = removeMatching(msg, func(f []byte) bool {
		return isField(f, "DKIM-Signature") && coversIdentity(sigTags(f)["h"])
	})
	field := FieldName + ": " + v + "\r\n"
	out := make([]byte, 0, len(field)+len(msg)+512)
	out = append(append(out, field...), msg...)
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             SignedHeaders(),
	})
	if err != nil {
		return nil, fmt.Errorf("identity: sign: %w", err)
	}
	if _, err := s.Write(out); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("identity: sign: %w", err)
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("identity: sign: %w", err)
	}
	sig := s.Signature()
	signed := make([]byte, 0, len(sig)+len(out))
	return append(append(signed, sig...), out...), nil
}

// RemoveFields returns msg without the header fields named name (case-insensitive), folded
// continuation lines included. The body and every other field are kept byte for byte; msg is
// returned as is when it has none.
func RemoveFields(msg []byte, name string) []byte {
	return removeMatching(msg, func(f []byte) bool { return isField(f, name) })
}

// removeMatching returns msg without the header fields (raw, folding included) drop matches.
func removeMatching(msg []byte, drop func(field []byte) bool) []byte {
	var out []byte
	rest, kept := msg, 0
	for len(rest) > 0 && !bytes.HasPrefix(rest, []byte("\r\n")) {
		end := fieldEnd(rest)
		off := len(msg) - len(rest)
		if drop(rest[:end]) {
			if out == nil {
				out = make([]byte, 0, len(msg))
			}
			out = append(out, msg[kept:off]...)
			kept = off + end
		}
		rest = rest[end:]
	}
	if out == nil {
		return msg
	}
	return append(out, msg[kept:]...)
}

// fields returns the values (unfolded, trimmed) of the header fields named name.
func fields(msg []byte, name string) []string {
	var out []string
	rest := msg
	for len(rest) > 0 && !bytes.HasPrefix(rest, []byte("\r\n")) {
		end := fieldEnd(rest)
		if f := rest[:end]; isField(f, name) {
			_, v, _ := bytes.Cut(f, []byte{':'})
			v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
			out = append(out, strings.TrimSpace(string(v)))
		}
		rest = rest[end:]
	}
	return out
}

func isField(f []byte, name string) bool {
	n, _, ok := bytes.Cut(f, []byte{':'})
	return ok && strings.EqualFold(string(bytes.TrimRight(n, " \t")), name)
}

// fieldEnd returns the length of the field at the start of b: up to the CRLF that is not
// followed by a space or tab (RFC 5322 §2.2.3 folding).
func fieldEnd(b []byte) int {
	i := 0
	for {
		j := bytes.Index(b[i:], []byte("\r\n"))
		if j < 0 {
			return len(b)
		}
		i += j + 2
		if i >= len(b) || (b[i] != ' ' && b[i] != '\t') {
			return i
		}
	}
}
