package mailbox

import (
	"testing"
	"time"
)

func TestBaseSubject(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]struct {
		base  string
		reply bool
	}{
		"Hello":                 {"hello", false},
		"Re: Hello":             {"hello", true},
		"RE:Re: FWD:  Hello  x": {"hello x", true},
		"Aw: Sv: Wg: Hi":        {"hi", true},
		"Re[2]: Hi":             {"hi", true},
		"Regarding: Hi":         {"regarding: hi", false},
		"Your login code":       {"your login code", false},
	} {
		base, reply := baseSubject(in)
		if base != want.base || reply != want.reply {
			t.Errorf("%q: %q %v, want %q %v", in, base, reply, want.base, want.reply)
		}
	}
}

type mapIndex map[string]tid

func (m mapIndex) byMessageID(id string) (tid, bool, error) { t, ok := m[id]; return t, ok, nil }
func (m mapIndex) bySubject(tid) (tid, time.Time, bool, error) {
	return tid{}, time.Time{}, false, nil
}

// FuzzThreading: any header threads without panic, to a thread found in the index or the
// hash of a root it names.
func FuzzThreading(f *testing.F) {
	f.Add([]byte("Message-ID: <a@b>\r\nIn-Reply-To: <x@y>\r\nReferences: <r@s> <x@y>\r\nSubject: Re: hi\r\nFrom: a@b\r\nTo: c@d\r\n\r\nbody"))
	f.Add([]byte("References: <\x00>\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := parseSummary(raw)
		if len(s.Refs) > maxRefs {
			t.Fatalf("%d refs", len(s.Refs))
		}
		ix := mapIndex{"known@x": hashThread("known")}
		th, err := assignThread(ix, s, ulid{1}, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseID(threadIDPrefix, formatThreadID(th)); !ok {
			t.Fatal("thread id does not round-trip")
		}
	})
}
