package submission

import (
	"context"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// testKeySet is the public key set of the test domains' identity keys.
func testKeySet(t *testing.T) identity.KeySet {
	t.Helper()
	var ks identity.KeySet
	for dom, file := range map[string]string{"example.com": "testdata/identity-example.pem", "ed.example": "testdata/identity-ed.pem"} {
		k, err := identity.PublicKey(dom, "mmid1", identity.StatusActive, readFile(t, file))
		if err != nil {
			t.Fatal(err)
		}
		ks.Keys = append(ks.Keys, k)
	}
	return ks
}

// verifyBody verifies the queued body of msgID and returns its identity header.
func verifyBody(t *testing.T, env *testEnv, msgID string, ks identity.KeySet) identity.Header {
	t.Helper()
	body, err := env.q.Body(context.Background(), msgID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := identity.Verify(body, ks.LookupTXT)
	if err != nil {
		t.Fatalf("verify %s: %v\n%s", msgID, err, body)
	}
	if res.Header.Msg != msgID {
		t.Fatalf("msg=%s, want %s", res.Header.Msg, msgID)
	}
	return res.Header
}

// Every door releases through one place: at accept (autonomous, monitored, a rule), at a
// person's approval (the queue's stored body is rewritten), and the oversight messages.
func TestIdentityAtRelease(t *testing.T) {
	t.Parallel()
	ks := testKeySet(t)
	ctx := context.Background()
	env := newOverseenEnv(t, Rule{Mailbox: "held@example.com", Tags: []string{"auth"}, Action: ActionAutoApprove})
	cases := []struct {
		name    string
		mbox    string
		tags    []string
		mode    string
		release identity.Release
		raw     bool
	}{
		{"autonomous", "auto@example.com", nil, "autonomous", identity.ReleaseAutonomous, false},
		{"autonomous over SMTP", "auto@example.com", nil, "autonomous", identity.ReleaseAutonomous, true},
		{"monitored", "mon@example.com", nil, "monitored", identity.ReleaseMonitored, false},
		{"ed25519 DKIM domain", "ed@ed.example", nil, "autonomous", identity.ReleaseAutonomous, false},
		{"rule", "held@example.com", []string{"auth"}, "gated_send", identity.ReleaseAutoApproved, false},
	}
	for _, tc := range cases {
		var rc queue.Receipt
		var err error
		if tc.raw {
			forged := "Multimail-Identity: v=1; mailbox=auto@example.com; mode=gated_send; release=approved\r\n" + string(rawFrom(tc.mbox))
			rc, err = env.sub.SubmitRaw(ctx, tc.mbox, []string{"bob@dest.example"}, []byte(forged), apiAs(tc.mbox))
		} else {
			req := basicReq(tc.mbox)
			req.Tags = tc.tags
			rc, err = env.sub.Send(ctx, req, apiAs(tc.mbox))
		}
		if err != nil || rc.Status != queue.StatusQueued {
			t.Fatalf("%s: %+v %v", tc.name, rc, err)
		}
		h := verifyBody(t, env, rc.ID, ks)
		if h.Mailbox != tc.mbox || h.Mode != tc.mode || h.Release != tc.release {
			t.Fatalf("%s: header %+v", tc.name, h)
		}
		st, _ := env.q.Status(ctx, rc.ID)
		if tc.release == identity.ReleaseAutoApproved && (st.Approval == nil || h.Ref != st.Approval.ID) {
			t.Fatalf("%s: ref %q, approval %+v", tc.name, h.Ref, st.Approval)
		}
	}

	// A held send is stored without the header; a person's approval adds it with the approval's id.
	rc, err := env.sub.Send(ctx, basicReq("held@example.com"), apiAs("held@example.com"))
	if err != nil || rc.Status != queue.StatusPendingApproval {
		t.Fatalf("held: %+v %v", rc, err)
	}
	body, _ := env.q.Body(ctx, rc.ID)
	if strings.Contains(string(body), identity.FieldName+":") {
		t.Fatalf("held body already has the header:\n%s", body)
	}
	st, _ := env.q.Status(ctx, rc.ID)
	if err := env.sub.Approve(ctx, st.Approval.ID, "fine", admin); err != nil {
		t.Fatal(err)
	}
	h := verifyBody(t, env, rc.ID, ks)
	if h.Release != identity.ReleaseApproved || h.Ref != st.Approval.ID || h.Mode != "gated_send" {
		t.Fatalf("approved header %+v (approval %s)", h, st.Approval.ID)
	}
	if strings.Contains(string(body), "cli") && strings.Contains(h.Ref, "cli") {
		t.Fatal("the header names the approver")
	}

	// The oversight messages multimail originates carry mode=system.
	for _, n := range otherMessages(t, env, "") {
		if !strings.HasPrefix(n.Subject, "Approval needed") && !strings.HasPrefix(n.Subject, "Monitored send") {
			continue
		}
		if h := verifyBody(t, env, n.ID, ks); h.Mode != "system" || h.Release != identity.ReleaseAutonomous || h.Mailbox != "multimail-oversight@example.com" {
			t.Fatalf("notice header %+v", h)
		}
	}
}

// A domain without an identity key still sends, without the header.
func TestIdentityWithoutKey(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	rc, err := env.sub.Send(context.Background(), basicReq("nokey@plain.test"), apiAs("nokey@plain.test"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := env.q.Body(context.Background(), rc.ID)
	if strings.Contains(string(body), identity.FieldName) {
		t.Fatalf("header without a key:\n%s", body)
	}
}

// A release that cannot sign (a corrupt identity key) leaves the held send held and undecided:
// it is never delivered without its header, and a later approval with a good key releases it.
func TestIdentityApproveFailsClosed(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	rc, err := env.sub.Send(ctx, basicReq("gated@example.com"), apiAs("gated@example.com"))
	if err != nil || rc.Status != queue.StatusPendingApproval {
		t.Fatalf("held: %+v %v", rc, err)
	}
	st, _ := env.q.Status(ctx, rc.ID)
	good, _ := env.store.Domain(ctx, "example.com")
	bad := []mailbox.IdentityKey{{Selector: "mmid1", KeyPEM: []byte("not a key"), Status: mailbox.IdentityActive}}
	if err := env.store.SetIdentityKeys(ctx, "example.com", bad); err != nil {
		t.Fatal(err)
	}
	if err := env.sub.Approve(ctx, st.Approval.ID, "", admin); err == nil {
		t.Fatal("approve with a corrupt identity key succeeded")
	}
	if ar, _ := env.q.Approval(ctx, st.Approval.ID); ar.State != queue.ApprovalPending {
		t.Fatalf("after a failed release: %s", ar.State)
	}
	if err := env.store.SetIdentityKeys(ctx, "example.com", good.IdentityKeys); err != nil {
		t.Fatal(err)
	}
	if err := env.sub.Approve(ctx, st.Approval.ID, "", admin); err != nil {
		t.Fatal(err)
	}
	if h := verifyBody(t, env, rc.ID, testKeySet(t)); h.Release != identity.ReleaseApproved {
		t.Fatalf("header %+v", h)
	}
}

// ReleaseSystem gives the node's own mail (TLS-RPT reports) the identity header with
// mode=system that verifies against the domain's key; a domain without a key sends without.
func TestReleaseSystem(t *testing.T) {
	t.Parallel()
	dom := mailbox.Domain{Name: "example.com", IdentityKeys: []mailbox.IdentityKey{{Selector: "mmid1",
		KeyPEM: readFile(t, "testdata/identity-example.pem"), Status: mailbox.IdentityActive}}}
	msg := []byte("From: TLS reports <tlsrpt@example.com>\r\nTo: tls@reports.test\r\nSubject: Report\r\n\r\nbody\r\n")
	at := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	signed, err := ReleaseSystem(msg, dom, "tlsrpt@example.com", "msg_01KBQ0000000000000000000AA", at)
	if err != nil {
		t.Fatal(err)
	}
	res, err := identity.Verify(signed, testKeySet(t).LookupTXT)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, signed)
	}
	if h := res.Header; h.Mailbox != "tlsrpt@example.com" || h.Mode != modeSystem || h.Release != identity.ReleaseAutonomous || !h.At.Equal(at) {
		t.Fatalf("identity header %+v", h)
	}
	dom.IdentityKeys = nil
	if out, err := ReleaseSystem(msg, dom, "tlsrpt@example.com", "msg_01KBQ0000000000000000000AA", at); err != nil || string(out) != string(msg) {
		t.Fatalf("without a key: %v, changed %v", err, string(out) != string(msg))
	}
}
