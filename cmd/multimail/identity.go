// identity.go: the identity CLI. "identity verify" checks a message's Multimail-Identity
// header and signature offline (docs/identity.md) against a key set (a URL or a saved file)
// or DNS; "identity rotate" and "identity revoke" manage a domain's identity keys over the
// admin socket.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"multimail.dev/multimail/identity"
)

// maxVerifyBytes bounds a message read by identity verify (the submission limit, with room).
const maxVerifyBytes = 64 << 20

func cmdIdentity(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		return cmdIdentityVerify(ctx, env, args[1:])
	}
	a := newAdminCmd(env, "identity", "identity verify [--key-url URL | --keys FILE | --dns] [FILE] | identity rotate DOMAIN | identity revoke DOMAIN SELECTOR")
	verb, err := a.parse(args, "verify", "rotate", "revoke")
	if err != nil {
		return err
	}
	var out identity.KeySet
	show := func(w io.Writer) {
		fmt.Fprintln(w, "DOMAIN\tSELECTOR\tSTATUS\tPUBLIC KEY")
		for _, k := range out.Keys {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Domain, k.Selector, k.Status, k.PublicKey)
		}
		fmt.Fprintln(w, "\npublish the records 'multimail domain dns' prints")
	}
	if verb == "rotate" {
		name, err := a.arg("domain name")
		if err != nil {
			return err
		}
		return a.call(ctx, "POST", "/v1/admin/domains/"+url.PathEscape(name)+"/identity/rotate", nil, &out, show)
	}
	if len(a.args) != 2 {
		return fmt.Errorf("%w: want DOMAIN SELECTOR", errUsage)
	}
	return a.call(ctx, "POST", "/v1/admin/domains/"+url.PathEscape(a.args[0])+"/identity/"+url.PathEscape(a.args[1])+"/revoke", nil, &out, show)
}

// cmdIdentityVerify is "identity verify": exit 0 with a summary, or 1 naming the failure.
func cmdIdentityVerify(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "identity verify", "identity verify [--key-url URL | --keys FILE | --dns] [FILE]   (the message on stdin without FILE)")
	keyURL := fs.String("key-url", "", "the key set's URL, e.g. https://mail.example.com/.well-known/multimail-identity")
	keyFile := fs.String("keys", "", "a saved key set (the JSON of /.well-known/multimail-identity)")
	useDNS := fs.Bool("dns", false, "look the key up in DNS (<selector>._domainkey.<domain> TXT)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{*keyURL != "", *keyFile != "", *useDNS} {
		if set {
			n++
		}
	}
	if n != 1 || len(pos) > 1 {
		fs.Usage()
		return fmt.Errorf("%w: give exactly one of --key-url, --keys, --dns, and at most one FILE", errUsage)
	}
	msg, err := readMessage(env, pos)
	if err != nil {
		return err
	}
	var lookup identity.LookupFunc
	switch {
	case *useDNS:
		lookup = func(name string) ([]string, error) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return net.DefaultResolver.LookupTXT(ctx, name)
		}
	default:
		ks, err := loadKeySet(ctx, *keyURL, *keyFile)
		if err != nil {
			return err
		}
		lookup = ks.LookupTXT
	}
	res, err := identity.Verify(msg, lookup)
	if err != nil {
		return fmt.Errorf("FAIL: %w", err)
	}
	h := res.Header
	fmt.Fprintf(env.stdout, "OK: sent by mailbox %s (mode %s), released %s", h.Mailbox, h.Mode, h.Release)
	if h.Ref != "" {
		fmt.Fprintf(env.stdout, " (approval %s)", h.Ref)
	}
	fmt.Fprintf(env.stdout, " at %s\n    message %s; signed by %s, key %s; body, From, To, Subject, Date and Message-ID unchanged\n",
		h.At.Format(time.RFC3339), h.Msg, res.Domain, res.Selector)
	return nil
}

// readMessage reads the message from FILE or stdin.
func readMessage(env *cliEnv, pos []string) ([]byte, error) {
	var r io.Reader = bytes.NewReader(nil)
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	} else if env.stdin != nil {
		r = env.stdin
	}
	msg, err := io.ReadAll(io.LimitReader(r, maxVerifyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	if len(msg) > maxVerifyBytes {
		return nil, fmt.Errorf("message larger than %d bytes", maxVerifyBytes)
	}
	if len(msg) == 0 {
		return nil, errors.New("empty message")
	}
	return msg, nil
}

// loadKeySet reads a key set from a URL or a file.
func loadKeySet(ctx context.Context, keyURL, file string) (identity.KeySet, error) {
	var body []byte
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return identity.KeySet{}, err
		}
		body = b
	} else {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", keyURL, nil)
		if err != nil {
			return identity.KeySet{}, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return identity.KeySet{}, fmt.Errorf("key set: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return identity.KeySet{}, fmt.Errorf("key set: %s answered %s", keyURL, resp.Status)
		}
		if body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return identity.KeySet{}, fmt.Errorf("key set: %w", err)
		}
	}
	var ks identity.KeySet
	if err := json.Unmarshal(body, &ks); err != nil || ks.Version != 1 {
		return identity.KeySet{}, fmt.Errorf("key set: not a version 1 multimail identity key set (%v)", err)
	}
	for i := range ks.Keys {
		ks.Keys[i].Domain = strings.ToLower(ks.Keys[i].Domain)
	}
	return ks, nil
}
