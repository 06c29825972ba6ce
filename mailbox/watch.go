package mailbox

import (
	"context"
	"sync"
)

// hub fans Change notifications out to the watchers of each mailbox.
//
// Writers never block on a watcher: publish does a non-blocking send, and a
// watcher whose buffer is full is dropped and its channel closed. Closing
// (rather than silently dropping one change) means a watcher can never miss
// a change unknowingly: an IMAP session seeing its channel closed while its
// ctx is alive must resynchronise (re-read the folder) and Watch again.
type hub struct {
	mu   sync.Mutex
	size int
	subs map[string]map[*watcher]struct{}
}

type watcher struct{ ch chan Change }

func newHub(size int) *hub {
	return &hub{size: size, subs: make(map[string]map[*watcher]struct{})}
}

// watch registers a watcher of mailbox until ctx ends.
func (h *hub) watch(ctx context.Context, mailbox string) <-chan Change {
	w := &watcher{ch: make(chan Change, h.size)}
	h.mu.Lock()
	if h.subs[mailbox] == nil {
		h.subs[mailbox] = make(map[*watcher]struct{})
	}
	h.subs[mailbox][w] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.dropLocked(mailbox, w)
	})
	return w.ch
}

// dropLocked removes w and closes its channel, once.
func (h *hub) dropLocked(mailbox string, w *watcher) {
	set := h.subs[mailbox]
	if _, ok := set[w]; !ok {
		return
	}
	delete(set, w)
	if len(set) == 0 {
		delete(h.subs, mailbox)
	}
	close(w.ch)
}

// publish sends changes, in order, to every watcher of mailbox.
func (h *hub) publish(mailbox string, changes ...Change) {
	if len(changes) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs[mailbox] {
		for _, c := range changes {
			select {
			case w.ch <- c:
				continue
			default:
				h.dropLocked(mailbox, w) // overflow: see the type comment
			}
			break
		}
	}
}

// watching returns the mailboxes that have at least one watcher.
func (h *hub) watching() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.subs))
	for mb := range h.subs {
		out = append(out, mb)
	}
	return out
}

// resync drops every watcher of mailbox (closing its channel): each must resynchronise.
func (h *hub) resync(mailbox string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs[mailbox] {
		h.dropLocked(mailbox, w)
	}
}
