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
	// AuthCacheTTL is how long a verified password spares the next login of the same
	// mailbox with the same password its bcrypt (authcache.go); 0 means
	// DefaultAuthCacheTTL, negative turns the cache off.
	AuthCacheTTL time.Duration
	// VanishedMax and VanishedAge are the retention rule of expunge tombstones (the UIDs
	// that left a folder, for QRESYNC's VANISHED): at most VanishedMax per folder and none
	// older than VanishedAge, pruned when the folder next loses a message. 0 means
	// DefaultVanishedMax and DefaultVanishedAge.
	VanishedMax int
	VanishedAge time.Duration
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
	if o.AuthCacheTTL == 0 {
		o.AuthCacheTTL = DefaultAuthCacheTTL
	}
	if o.VanishedMax <= 0 {
		o.VanishedMax = DefaultVanishedMax
	}
	if o.VanishedAge <= 0 {
		o.VanishedAge = DefaultVanishedAge
	}
	return o
}
