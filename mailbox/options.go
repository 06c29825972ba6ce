package mailbox

import (
	"log/slog"
	"time"
)

// Options configure a store. The zero value is usable.
type Options struct {
	// Logger receives warnings about corrupt records; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// WatchBuffer is the channel capacity of each watcher; 0 means 256.
	WatchBuffer int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 256
	}
	return o
}
