package queue

// kit.go exports the few rules a second backend of the queue (queue/pgqueue) must apply
// exactly as this one does: the message id format (with NewMessageID), recipient normalisation, the retry
// backoff and the option defaults. The Pebble queue uses the same unexported functions.

import "time"

// ValidMessageID reports whether s is a well-formed message id.
func ValidMessageID(s string) bool {
	_, err := parseID(prefixMsg, s)
	return err == nil
}

// NormaliseRecipients lower-cases the recipients' domains and drops duplicates (keeping the
// first spelling), as Enqueue does: the addresses and their domains, in order. ErrInvalid
// for a malformed address or a recipient count of 0 or above 65535.
func NormaliseRecipients(to []string) (addrs, domains []string, err error) {
	rs, err := normaliseRcpts(to)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rs {
		addrs, domains = append(addrs, r.Addr), append(domains, r.Domain)
	}
	return addrs, domains, nil
}

// Backoff returns the delay before retry n (from 1) of key (a recipient: message id, NUL,
// address; a domain: its name): o.BackoffInitial doubling up to o.BackoffMax, times a
// jitter in [0.8, 1.2) derived from key and n.
func (o Options) Backoff(n int, key string) time.Duration {
	d := o.BackoffInitial
	for i := 1; i < n && d < o.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, o.BackoffMax)
	return time.Duration(float64(d) * jitter(key, n))
}

// WithDefaults returns o with zero fields set to the documented defaults, or ErrInvalid.
func (o Options) WithDefaults() (Options, error) { return o.withDefaults() }
