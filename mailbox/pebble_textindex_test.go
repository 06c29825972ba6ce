package mailbox

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"multimail.dev/multimail/mailbox/textindex"
)

const textAddr = "a@example.com"

// genMessage builds a message whose body is words in one of several
// encodings, with case variants.
func genMessage(r *rand.Rand, words []string) string {
	var body []string
	for range 3 + r.IntN(8) {
		w := words[r.IntN(len(words))]
		if r.IntN(2) == 0 {
			w = strings.ToUpper(w)
		}
		body = append(body, w)
	}
	text := strings.Join(body, " ")
	subject := words[r.IntN(len(words))]
	switch r.IntN(4) {
	case 0:
		return "Subject: " + subject + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n"
	case 1:
		return "Subject: " + subject + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64.StdEncoding.EncodeToString([]byte(text)) + "\r\n"
	case 2: // ISO-8859-1, quoted-printable: ü is =FC
		qp := strings.NewReplacer("ü", "=FC", "Ü", "=DC", "ö", "=F6", "Ö", "=D6").Replace(text)
		return "Subject: " + subject + "\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + "\r\n"
	default:
		return "Subject: " + subject + "\r\nContent-Type: multipart/alternative; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n" +
			text + "\r\n--zz\r\nContent-Type: text/html\r\n\r\n<p>" + text + "</p>\r\n--zz--\r\n"
	}
}

// TestTextCandidatesSupersetOfMatches: after indexing, the candidates of
// every needle hold every email the matcher finds.
func TestTextCandidatesSupersetOfMatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTextStore(t)
	words := []string{"grüße", "köln", "lazy", "dog", "invoice", "Quartal", "zebra", "ab"}
	r := rand.New(rand.NewPCG(1, 2))
	raws := map[string]string{}
	for range 200 {
		raw := genMessage(r, words)
		e, err := s.Deliver(ctx, textAddr, "INBOX", []byte(raw), DeliverOptions{})
		mustNo(t, err)
		raws[e.ID] = raw
	}
	mustNo(t, s.WaitIndexed(ctx))
	needles := append(words, "lazy dog", "GRÜSSE", "ölN", "nothing-here", "vo")
	for _, n := range needles {
		ids, ok, err := s.TextCandidates(ctx, textAddr, []string{n})
		mustNo(t, err)
		if len(textindex.NeedleTrigrams(n)) == 0 {
			if ok {
				t.Fatalf("%q narrowed the search", n)
			}
			continue
		}
		if !ok { // too common to narrow: every email is a candidate
			continue
		}
		matches := 0
		for id, raw := range raws {
			if !textindex.Contains(textindex.Segments([]byte(raw)), n, true) {
				continue
			}
			matches++
			if _, in := ids[id]; !in {
				t.Fatalf("needle %q: match %s not a candidate\n%s", n, id, raw)
			}
		}
		if n == "nothing-here" && len(ids) != 0 {
			t.Fatalf("candidates for an absent needle: %d", len(ids))
		}
		t.Logf("%q: %d matches, %d candidates", n, matches, len(ids))
	}
}

// TestTextQueuedAreCandidates: an email not yet indexed is a candidate; a
// reopened pre-index database queues (backfills) its old mail.
func TestTextQueuedAndBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fs := vfs.NewMem()
	db := memDB(t, fs)
	s, err := OpenPebble(db, Options{})
	mustNo(t, err)
	mustNo(t, s.AddMailbox(ctx, Mailbox{Address: textAddr}))
	mustNo(t, s.Close()) // no indexer: what is delivered stays queued
	var ids []string
	for i := range 5 {
		e, err := s.Deliver(ctx, textAddr, "INBOX", []byte(fmt.Sprintf("Subject: x\r\n\r\nmessage %d zebra\r\n", i)), DeliverOptions{})
		mustNo(t, err)
		ids = append(ids, e.ID)
	}
	got, ok, err := s.TextCandidates(ctx, textAddr, []string{"unrelated words"})
	mustNo(t, err)
	if !ok || len(got) != len(ids) {
		t.Fatalf("queued emails: %d candidates (ok %v), want %d", len(got), ok, len(ids))
	}
	// Make it a pre-index database: no version mark, no queue.
	b := db.NewBatch()
	mustNo(t, b.DeleteRange(fam(famTextQueue), prefixEnd(fam(famTextQueue)), nil))
	mustNo(t, b.Delete(textVersionKey(), nil))
	mustNo(t, b.Commit(nil))
	mustNo(t, db.Close())

	db = memDB(t, fs)
	defer db.Close()
	s, err = OpenPebble(db, Options{})
	mustNo(t, err)
	defer s.Close()
	mustNo(t, s.WaitIndexed(ctx))
	got, ok, err = s.TextCandidates(ctx, textAddr, []string{"ZEBRA"})
	mustNo(t, err)
	if ok && len(got) != len(ids) { // in every message: may not narrow at all
		t.Fatalf("backfilled: %d candidates, want %d", len(got), len(ids))
	}
	got, _, err = s.TextCandidates(ctx, textAddr, []string{"message 3"})
	mustNo(t, err)
	if _, in := got[ids[3]]; !in || len(got) != 1 {
		t.Fatalf("message 3: candidates %v", got)
	}
}

func TestTextKeysParse(t *testing.T) {
	t.Parallel()
	id := ulid{0x01, 0x8f, 0x3a, 0x4b, 0x5c, 0x6d, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		key  []byte
		want parsedKey
	}{
		{textPostingKey(textAddr, [3]byte{'a', 'b', 'c'}, 2), parsedKey{Family: famTextPosting, Name: textAddr, Trigram: [3]byte{'a', 'b', 'c'}, UID: 2}},
		{textDocKey(textAddr, 7), parsedKey{Family: famTextDoc, Name: textAddr, UID: 7}},
		{textQueueKey(textAddr, id), parsedKey{Family: famTextQueue, Name: textAddr, ID: id}},
		{textAlwaysKey(textAddr, id), parsedKey{Family: famTextAlways, Name: textAddr, ID: id}},
		{textVersionKey(), parsedKey{Family: famTextAlways, MsgID: "version"}},
	} {
		got, err := parseKey(tc.key)
		mustNo(t, err)
		if got != tc.want {
			t.Fatalf("parseKey(%s) = %+v, want %+v", FormatKey(tc.key), got, tc.want)
		}
	}
}

// TestTextIndexerStopsOnClose: Close returns only after the indexer has
// stopped, while it has work (run with -race), and is idempotent.
func TestTextIndexerStopsOnClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTextStore(t)
	for i := range 50 {
		_, err := s.Deliver(ctx, textAddr, "INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i)), DeliverOptions{})
		mustNo(t, err)
	}
	mustNo(t, s.Close())
	select {
	case <-s.text.done:
	default:
		t.Fatal("indexer still running after Close")
	}
	mustNo(t, s.Close())
	if err := s.WaitIndexed(ctx); err == nil {
		t.Fatal("WaitIndexed after Close succeeded")
	}
}

// TestTextCommonNeedleDoesNotNarrow: a needle in most of the mailbox is not worth
// mapping to emails (the caller scans); a rare one still narrows.
func TestTextCommonNeedleDoesNotNarrow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTextStore(t)
	for i := range 10 {
		body := "the lazy dog sleeps"
		if i == 3 {
			body += " under a purple elephant"
		}
		_, err := s.Deliver(ctx, textAddr, "INBOX", []byte(fmt.Sprintf("Subject: m%d\r\n\r\n%s\r\n", i, body)), DeliverOptions{})
		mustNo(t, err)
	}
	mustNo(t, s.WaitIndexed(ctx))
	if _, ok, err := s.TextCandidates(ctx, textAddr, []string{"LAZY dog"}); err != nil || ok {
		t.Fatalf("a needle in every message: ok %v, err %v; want no narrowing", ok, err)
	}
	ids, ok, err := s.TextCandidates(ctx, textAddr, []string{"purple elephant"})
	if err != nil || !ok || len(ids) != 1 {
		t.Fatalf("a needle in one message: %d candidates, ok %v, err %v", len(ids), ok, err)
	}
}

// openTextStore opens a Pebble store in memory with the mailbox textAddr; the
// store (then the database) is closed when the test ends.
func openTextStore(t *testing.T) *PebbleStore {
	t.Helper()
	db := memDB(t, vfs.NewMem())
	t.Cleanup(func() { db.Close() })
	s, err := OpenPebble(db, Options{})
	mustNo(t, err)
	t.Cleanup(func() { s.Close() })
	mustNo(t, s.AddMailbox(context.Background(), Mailbox{Address: textAddr}))
	return s
}
