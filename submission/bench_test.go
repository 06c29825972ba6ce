package submission

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/mailbox"
)

// Run: go test -run XXX -bench . -benchtime 2000x ./submission
//
// BenchmarkSend: accepted messages per second over the whole acceptance path (validate, build
// MIME, sign, enqueue with a synced Pebble commit, copy to Sent), with parallel callers so
// Pebble's group commit works as in production. cpu-us/msg is the process CPU per message;
// dkim-cpu-% is the share of it spent signing: the CPU of signing the same message alone
// (measured right after) over the CPU per accepted message.
func BenchmarkSend(b *testing.B) {
	for _, tc := range []struct{ name, mbox string }{{"rsa2048", "auto@example.com"}, {"ed25519", "ed@ed.example"}} {
		b.Run(tc.name, func(b *testing.B) {
			env := newEnv(b)
			reg := prometheus.NewRegistry()
			sub, err := New(Options{Queue: env.q, Store: env.store, Hostname: "mx.example.com", Registerer: reg})
			if err != nil {
				b.Fatal(err)
			}
			req := benchRequest(tc.mbox)
			b.SetParallelism(8)
			b.ReportAllocs()
			cpu := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := sub.Send(context.Background(), req, apiAs(tc.mbox)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			sendCPU := cpuTime() - cpu
			if n := len(mustGather(b, reg)); n == 0 {
				b.Fatal("no metrics registered")
			}
			reportRates(b, sendCPU, signCPU(b, tc.mbox, req))
		})
	}
}

// benchRequest is a typical API send: text and html, about 2 KB.
func benchRequest(mbox string) *SendRequest {
	return &SendRequest{
		MailboxID: mbox, To: AddressList{"bob@dest.example"}, Subject: "Your order has shipped",
		Text: strings.Repeat("Thanks for your order. It is on its way.\n", 20),
		HTML: "<p>" + strings.Repeat("Thanks for your order. It is on its way.<br>", 20) + "</p>",
		Tags: []string{"order"},
	}
}

// reportRates adds msgs/s, CPU per message and, when signPerMsg is known, the DKIM share.
func reportRates(b *testing.B, cpu, signPerMsg time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	perMsg := cpu.Seconds() / float64(b.N)
	b.ReportMetric(perMsg*1e6, "cpu-us/msg")
	if signPerMsg > 0 {
		b.ReportMetric(signPerMsg.Seconds()*1e6, "sign-cpu-us/msg")
		b.ReportMetric(100*signPerMsg.Seconds()/perMsg, "dkim-cpu-%")
	}
}

// signCPU is the CPU time of signing req's message once, averaged over a few hundred runs.
func signCPU(b *testing.B, mbox string, req *SendRequest) time.Duration {
	raw := benchMessage(b, req)
	env := newEnv(b)
	dom, err := env.store.Domain(context.Background(), domainOf(mbox))
	if err != nil {
		b.Fatal(err)
	}
	var kc keyCache
	key, sel, err := kc.signer(dom)
	if err != nil {
		b.Fatal(err)
	}
	const n = 300
	start := cpuTime()
	for range n {
		if _, err := sign(raw, dom.Name, sel, key); err != nil {
			b.Fatal(err)
		}
	}
	return (cpuTime() - start) / n
}

// benchMessage composes req as Send would.
func benchMessage(b *testing.B, req *SendRequest) []byte {
	d := &draft{mailbox: req.MailboxID, rcpts: []string(req.To)}
	for _, a := range req.To {
		ad, err := parseHeaderAddress("to", a)
		if err != nil {
			b.Fatal(err)
		}
		d.to = append(d.to, ad)
	}
	raw, err := compose(req, d, time.Now(), "msg_x@mx.example.com")
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mustGather gathers the registry (the metrics must register and gather cleanly).
func mustGather(b *testing.B, reg *prometheus.Registry) []string {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}

// BenchmarkDKIMSign is the signing cost alone, on the message BenchmarkSend builds.
func BenchmarkDKIMSign(b *testing.B) {
	raw := benchMessage(b, benchRequest("auto@example.com"))
	for _, tc := range []struct{ name, file string }{{"rsa2048", "testdata/rsa2048.pem"}, {"ed25519", "testdata/ed25519.pem"}} {
		b.Run(tc.name, func(b *testing.B) {
			var kc keyCache
			key, sel, err := kc.signer(mailbox.Domain{Name: "example.com", DKIMSelector: "s", DKIMKeyPEM: readFile(b, tc.file)})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if _, err := sign(raw, "example.com", sel, key); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
		})
	}
}

// BenchmarkSMTP is submissions per second over N parallel SMTP sessions, each reused for many
// messages: trusted plain text, and STARTTLS + AUTH (RSA signing in both).
func BenchmarkSMTP(b *testing.B) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"trusted-plain", false}, {"starttls-auth", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ts := newServer(b, !tc.tls, nil)
			msg := "From: auto@example.com\r\nTo: bob@dest.example\r\nSubject: bench\r\n\r\n" +
				strings.Repeat("Thanks for your order. It is on its way.\r\n", 40)
			var sessions atomic.Int32
			b.SetParallelism(4)
			cpu := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				sessions.Add(1)
				c, err := benchClient(ts, tc.tls)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					if err := c.SendMail("auto@example.com", []string{"bob@dest.example"}, strings.NewReader(msg)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(sessions.Load()), "sessions")
			reportRates(b, cpuTime()-cpu, 0)
		})
	}
}

// benchClient opens one session: plain (trusted) or STARTTLS + AUTH PLAIN.
func benchClient(ts *testServer, useTLS bool) (*smtp.Client, error) {
	if !useTLS {
		return smtp.Dial(ts.submission)
	}
	c, err := smtp.DialStartTLS(ts.submission, clientTLS())
	if err != nil {
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
		c.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	return c, nil
}
