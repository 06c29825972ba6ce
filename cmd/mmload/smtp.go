package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// runSMTP submits n messages over c parallel SMTP sessions, each session reused for many
// messages, and reports accepted messages per second and per-message latency (MAIL to 250).
func runSMTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mmload smtp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2587", "submission address (loopback)")
	from := fs.String("from", "agent@localhost", "envelope sender and From:")
	to := fs.String("to", "load@customer.test", "recipient")
	n := fs.Int("n", 1000, "messages")
	c := fs.Int("c", 16, "parallel sessions")
	size := fs.Int("size", 5120, "message size in bytes")
	user := fs.String("user", "", "AUTH PLAIN user (after STARTTLS); empty: no AUTH (trusted_networks)")
	pass := fs.String("pass", "", "AUTH PLAIN password or API key")
	starttls := fs.Bool("starttls", false, "use STARTTLS (implied by --user)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackOnly(*addr); err != nil {
		return err
	}
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: load\r\n\r\n%s", *from, *to, body(*size))
	all, took := drive(ctx, *c, *n, func(take func() bool) *stats {
		return smtpSession(*addr, *user, *pass, *starttls || *user != "", *from, *to, msg, take)
	})
	all.report("smtp accepted", took)
	return nil
}

func smtpSession(addr, user, pass string, useTLS bool, from, to, msg string, take func() bool) *stats {
	s := &stats{}
	var c *smtp.Client
	var err error
	if useTLS {
		c, err = smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = smtp.Dial(addr)
	}
	if err != nil {
		s.add(0, err)
		return s
	}
	defer c.Close()
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			s.add(0, err)
			return s
		}
	}
	for take() {
		t0 := time.Now()
		err := c.SendMail(from, []string{to}, strings.NewReader(msg))
		s.add(time.Since(t0), err)
		if err != nil {
			return s
		}
	}
	c.Quit()
	return s
}
