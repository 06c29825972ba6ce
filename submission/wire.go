package submission

import (
	"bytes"
	"fmt"
)

// checkWire is the last guard before a message is signed and enqueued, on
// every path (API and SMTP): multimail never emits a bare CR, a bare LF or a
// NUL, whatever came in (RFC 5322 §2.3, RFC 5321 §2.3.8; a bare line end is
// how SMTP smuggling crosses a hop). Composition and the DATA reader keep
// this true; the guard makes a bug there a refused message instead of a
// smuggled one.
func checkWire(raw []byte) error {
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		return fmt.Errorf("%w at byte %d", ErrNUL, i)
	}
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\r':
			if i+1 == len(raw) || raw[i+1] != '\n' {
				return fmt.Errorf("%w: bare CR at byte %d", ErrBareLineEnding, i)
			}
			i++
		case '\n':
			return fmt.Errorf("%w: bare LF at byte %d", ErrBareLineEnding, i)
		}
	}
	return nil
}
