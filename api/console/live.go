package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// events is the live-update stream (Server-Sent Events): every Poll it asks the API for the
// key's pending approvals and sends "approvals" when the set changed; the page then fetches
// its rows (the data is the pending ids, so a page that already shows them does nothing). It
// does not extend the session's idle time, and ends with the session.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	s, _ := c.session(r, false)
	if s == nil {
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	tick := time.NewTicker(c.opts.Poll)
	defer tick.Stop()
	last, beat := "", time.Now()
	for {
		if s, _ = c.session(r, false); s == nil {
			fmt.Fprint(w, "event: signedout\ndata: 1\n\n")
			fl.Flush()
			return
		}
		if p, err := c.pending(r, s); err == nil {
			ids := make([]string, len(p))
			for i, a := range p {
				ids[i] = a.ApprovalID
			}
			if sig := strings.Join(ids, ","); sig != last {
				last = sig
				fmt.Fprintf(w, "event: approvals\ndata: %s\n\n", sig) // the ids: the page refreshes only on a change
				fl.Flush()
			}
		}
		if time.Since(beat) > 15*time.Second {
			beat = time.Now()
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.stop:
			return
		case <-tick.C:
		}
	}
}
