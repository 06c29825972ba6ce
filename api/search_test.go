package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
)

// TestListEmailsSearch drives ?q= through the real handler: IMAP SEARCH TEXT
// over decoded text, combined with the other filters, paged, bounded.
func TestListEmailsSearch(t *testing.T) {
	e := newEnv(t, envOptions{})
	const box = "auth@yourproduct.com"
	at := func(i int) mailbox.DeliverOptions {
		return mailbox.DeliverOptions{InternalDate: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)}
	}
	mk := func(subject, extra, body string) string {
		return "From: Alice <alice@example.org>\nTo: " + box + "\nSubject: " + subject +
			"\nMIME-Version: 1.0\n" + extra + "\n" + body + "\n"
	}
	qp := e.deliver(box, mk("Payment", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n",
		"Your =C3=9Cberweisung of 4711 EUR ar=\nrived."), at(1))
	hdr := e.deliver(box, mk("Hello", "X-Ticket: ZX-9000\n", "plain text"), at(2))
	b64 := e.deliver(box, mk("Report", "Content-Transfer-Encoding: base64\n", "VGhlIHF1YXJ0ZXJseSByZXBvcnQgYXJyaXZlZC4="), at(3)) // "The quarterly report arrived."
	other := e.deliver("other@example.com", mk("Theirs", "", "arrived too"), at(4))
	held := e.deliver("all@example.com", mk("Held", "", "arrived held"), mailbox.DeliverOptions{Pending: true})

	list := func(t *testing.T, key, mbox, query string) ([]string, string) {
		t.Helper()
		r := e.do("GET", "/v1/mailboxes/"+mbox+"/emails?"+query, key, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", query, r.status, r.body)
		}
		var out wire.EmailList
		r.json(t, &out)
		ids := []string{}
		for _, s := range out.Emails {
			ids = append(ids, s.EmailID)
		}
		return ids, out.NextCursor
	}
	q := func(s string) string { return "q=" + url.QueryEscape(s) }
	cases := []struct {
		name, query string
		want        []string
	}{
		{"decoded quoted-printable, any case", q("ÜBERWEISUNG of 4711"), []string{qp}},
		{"soft line break joined", q("arrived."), []string{b64, qp}},
		{"base64 body", q("Quarterly Report"), []string{b64}},
		{"header value", q("zx-9000"), []string{hdr}},
		{"miss", q("wombat"), []string{}},
		{"encoded form not searched", q("=C3=9C"), []string{}},
		{"with folder", q("report") + "&folder=Archive", []string{}},
		{"empty q is no filter", "q=", []string{b64, hdr, qp}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, next := list(t, "send", box, tc.query)
			if !slices.Equal(got, tc.want) || next != "" {
				t.Fatalf("got %v next %q, want %v", got, next, tc.want)
			}
		})
	}
	t.Run("paged", func(t *testing.T) {
		first, next := list(t, "send", box, q("ARRIVED")+"&limit=1")
		if !slices.Equal(first, []string{b64}) || next == "" {
			t.Fatalf("page 1 %v next %q", first, next)
		}
		second, _ := list(t, "send", box, q("ARRIVED")+"&limit=1&cursor="+url.QueryEscape(next))
		if !slices.Equal(second, []string{qp}) {
			t.Fatalf("page 2 %v", second)
		}
	})
	t.Run("other mailboxes and held emails stay hidden", func(t *testing.T) {
		got, _ := list(t, "send", box, q("arrived"))
		if slices.Contains(got, other) {
			t.Fatalf("another mailbox's email listed: %v", got)
		}
		if got, _ := list(t, "gated", "all@example.com", q("arrived held")); slices.Contains(got, held) {
			t.Fatalf("held email listed to a gated key: %v", got)
		}
	})
	t.Run("q length", func(t *testing.T) {
		if got, _ := list(t, "send", box, q(strings.Repeat("a", maxSearchText))); len(got) != 0 {
			t.Fatalf("256 bytes: %v", got)
		}
		r := e.do("GET", "/v1/mailboxes/"+box+"/emails?"+q(strings.Repeat("ü", maxSearchText/2+1)), "send", nil)
		if r.status != 400 {
			t.Fatalf("over-long q: %d %s", r.status, r.body)
		}
		if code, field, _ := r.apiError(t); field != "q" || code != CodeInvalidRequest {
			t.Fatalf("error %q field %q: %s", code, field, r.body)
		}
	})
}

// TestMCPListEmailsQuery checks list_emails' query argument reaches ?q= and
// that an error about q names the argument the agent gave.
func TestMCPListEmailsQuery(t *testing.T) {
	e := newEnv(t, envOptions{})
	const box = "auth@yourproduct.com"
	hit := e.deliver(box, "From: a@example.org\nTo: "+box+"\nSubject: Rechnung\n\nIhre Überweisung ist da.\n", mailbox.DeliverOptions{})
	miss := e.deliver(box, "From: a@example.org\nTo: "+box+"\nSubject: Hello\n\nNothing here.\n", mailbox.DeliverOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &sdk.StreamableClientTransport{Endpoint: e.http.URL + "/mcp",
		HTTPClient: &http.Client{Transport: bearerTransport{e.keys["send"]}}, MaxRetries: -1}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	call := func(query string) *sdk.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "list_emails",
			Arguments: map[string]any{"mailbox_id": box, "query": query}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := call("ÜBERWEISUNG")
	if text := toolText(res); res.IsError || !strings.Contains(text, hit) || strings.Contains(text, miss) {
		t.Fatalf("search: error=%v %s", res.IsError, text)
	}
	res = call(strings.Repeat("x", maxSearchText+1))
	if text := toolText(res); !res.IsError || !strings.Contains(text, `"field":"query"`) || !strings.Contains(text, `"message":"query: `) {
		t.Fatalf("over-long query: error=%v %s", res.IsError, text)
	}
}
