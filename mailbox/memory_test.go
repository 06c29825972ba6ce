package mailbox_test

import (
	"testing"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/storetest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) mailbox.Store { return mailbox.NewMemory() })
}

func TestMemoryRetention(t *testing.T) {
	t.Parallel()
	storetest.Retention(t, func(t *testing.T, o mailbox.Options) mailbox.Store { return mailbox.NewMemoryWith(o) })
}
