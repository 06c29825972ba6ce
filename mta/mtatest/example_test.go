package mtatest_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mta/mtatest"
)

// An MX records what it accepts; WaitFor blocks until messages arrive.
func ExampleStartMX() {
	mx, err := mtatest.StartMX(mtatest.MXOptions{})
	if err != nil {
		panic(err)
	}
	defer mx.Close()
	send := func(to ...string) error {
		c, err := smtp.Dial(mx.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		return c.SendMail("a@example.test", to, strings.NewReader("Subject: hi\r\n\r\nhi\r\n"))
	}
	fmt.Println("send:", send("ok-1@dest.test", "reject-1@dest.test"))
	fmt.Println("send:", send("ok-2@dest.test"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, _ := mx.WaitFor(ctx, 1)
	fmt.Println(msgs[0].From, msgs[0].To)
	// Output:
	// send: SMTP error 550: No such user here
	// send: <nil>
	// a@example.test [ok-2@dest.test]
}

// A DNS server answers from a zone map; point a resolver at Addr.
func ExampleStartDNS() {
	d, err := mtatest.StartDNS(map[string]mtatest.Records{
		"example.test":    {MX: []net.MX{{Host: "mx.example.test", Pref: 10}}},
		"mx.example.test": {A: []string{"127.0.0.1"}},
		"null.test":       {MX: mtatest.NullMX()},
	})
	if err != nil {
		panic(err)
	}
	defer d.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, network, d.Addr())
	}}
	mxs, _ := r.LookupMX(context.Background(), "example.test")
	fmt.Println(mxs[0].Host, mxs[0].Pref)
	// Output: mx.example.test. 10
}
