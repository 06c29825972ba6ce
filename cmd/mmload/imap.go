package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// imapOps are the operations of the IMAP stress mix, with their weights.
var imapOps = []struct {
	name   string
	weight int
}{
	{"FETCH", 30}, {"STORE", 20}, {"SEARCH", 15}, {"APPEND", 10}, {"EXPUNGE", 10},
	{"SELECT", 10}, {"LOGOUT", 5},
}

// imapStats counts one stress run: operations and errors per kind, and latencies.
type imapStats struct {
	mu    sync.Mutex
	ops   map[string]int
	errs  map[string]int
	lat   []time.Duration
	first error
}

func (s *imapStats) add(op string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs[op]++
		if s.first == nil {
			s.first = fmt.Errorf("%s: %w", op, err)
		}
		return
	}
	s.ops[op]++
	s.lat = append(s.lat, d)
}

// runIMAP is `mmload imap`: c clients run a random mix of LOGIN, SELECT, FETCH, STORE,
// SEARCH, APPEND, EXPUNGE and LOGOUT over random messages for a duration, and it reports
// operations per second and the errors (any NO, BAD or broken connection) by kind.
func runIMAP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mmload imap", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2993", "IMAP address (loopback)")
	mode := fs.String("tls", "implicit", "implicit (IMAPS), starttls, or none")
	user := fs.String("user", "agent@localhost", "LOGIN user")
	pass := fs.String("pass", "", "LOGIN password or API key")
	c := fs.Int("c", 8, "parallel clients")
	d := fs.Duration("d", 10*time.Second, "duration")
	seed := fs.Int("seed", 200, "messages appended to the folder before the run")
	folder := fs.String("folder", "INBOX", "folder the clients work in")
	label := fs.String("label", "imap", "name printed with the result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackOnly(*addr); err != nil {
		return err
	}
	st, took, err := imapStress(ctx, imapTarget{addr: *addr, mode: *mode, user: *user, pass: *pass, folder: *folder}, *c, *d, *seed)
	if err != nil {
		return err
	}
	st.report(*label, took)
	return nil
}

type imapTarget struct {
	addr, mode, user, pass, folder string
}

func (t imapTarget) dial() (*imapclient.Client, error) {
	tc := &tls.Config{InsecureSkipVerify: true}
	switch t.mode {
	case "implicit":
		return imapclient.DialTLS(t.addr, &imapclient.Options{TLSConfig: tc})
	case "starttls":
		return imapclient.DialStartTLS(t.addr, &imapclient.Options{TLSConfig: tc})
	case "none":
		return imapclient.DialInsecure(t.addr, nil)
	}
	return nil, fmt.Errorf("--tls %q: want implicit, starttls or none", t.mode)
}

func stressMessage(r *rand.Rand) string {
	return fmt.Sprintf("From: Load %d <load%d@example.test>\r\nTo: agent@example.test\r\nSubject: stress %d\r\nDate: %s\r\nMessage-ID: <%d@mmload>\r\n\r\n%s",
		r.IntN(50), r.IntN(50), r.Int64(), time.Now().Format(time.RFC1123Z), r.Int64(), body(1024+r.IntN(2048)))
}

func appendOne(cl *imapclient.Client, folder, msg string) (imap.UID, error) {
	cmd := cl.Append(folder, int64(len(msg)), nil)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return data.UID, nil
}

// imapStress seeds the folder and runs the clients.
func imapStress(ctx context.Context, t imapTarget, clients int, d time.Duration, seed int) (*imapStats, time.Duration, error) {
	cl, err := t.dial()
	if err != nil {
		return nil, 0, err
	}
	if err := cl.Login(t.user, t.pass).Wait(); err != nil {
		cl.Close()
		return nil, 0, fmt.Errorf("LOGIN: %w", err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < seed; i++ {
		if _, err := appendOne(cl, t.folder, stressMessage(r)); err != nil {
			cl.Close()
			return nil, 0, fmt.Errorf("seeding: %w", err)
		}
	}
	cl.Logout().Wait()
	cl.Close()

	st := &imapStats{ops: map[string]int{}, errs: map[string]int{}}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Go(func() { imapClient(ctx, t, st, rand.New(rand.NewPCG(uint64(i)+10, 7))) })
	}
	wg.Wait()
	return st, time.Since(start), nil
}

// imapClient loops sessions until ctx ends: LOGIN, SELECT, then random operations until a
// LOGOUT op ends the session.
func imapClient(ctx context.Context, t imapTarget, st *imapStats, r *rand.Rand) {
	total := 0
	for _, op := range imapOps {
		total += op.weight
	}
	for ctx.Err() == nil {
		t0 := time.Now()
		cl, err := t.dial()
		if err == nil {
			err = cl.Login(t.user, t.pass).Wait()
		}
		st.add("LOGIN", time.Since(t0), err)
		if err != nil {
			if cl != nil {
				cl.Close()
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		t0 = time.Now()
		_, err = cl.Select(t.folder, nil).Wait()
		st.add("SELECT", time.Since(t0), err)
		var mine []imap.UID // appended by this session, expunged by it
		for err == nil && ctx.Err() == nil {
			n := r.IntN(total)
			op := ""
			for _, o := range imapOps {
				if n < o.weight {
					op = o.name
					break
				}
				n -= o.weight
			}
			if op == "LOGOUT" {
				break
			}
			var exists uint32
			if mb := cl.Mailbox(); mb != nil {
				exists = mb.NumMessages
			} else if op != "APPEND" {
				op = "SELECT"
			}
			if exists == 0 && op != "APPEND" && op != "SELECT" {
				op = "APPEND"
			}
			seq := uint32(1)
			if exists > 0 {
				seq = 1 + uint32(r.IntN(int(exists)))
			}
			t0 = time.Now()
			switch op {
			case "FETCH":
				_, err = cl.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{
					UID: true, Flags: true, Envelope: true, RFC822Size: true,
					BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
				}).Collect()
			case "STORE":
				flag := []imap.Flag{imap.FlagSeen, imap.FlagFlagged, "$Stress"}[r.IntN(3)]
				sf := imap.StoreFlagsAdd
				if r.IntN(2) == 0 {
					sf = imap.StoreFlagsDel
				}
				err = cl.Store(imap.SeqSetNum(seq), &imap.StoreFlags{Op: sf, Flags: []imap.Flag{flag}, Silent: true}, nil).Close()
			case "SEARCH":
				crit := []*imap.SearchCriteria{
					{NotFlag: []imap.Flag{imap.FlagSeen}},
					{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: fmt.Sprintf("load%d@", r.IntN(50))}}},
					{Flag: []imap.Flag{imap.FlagFlagged}},
				}[r.IntN(3)]
				_, err = cl.UIDSearch(crit, nil).Wait()
			case "APPEND":
				var uid imap.UID
				uid, err = appendOne(cl, t.folder, stressMessage(r))
				if err == nil && uid != 0 {
					mine = append(mine, uid)
				}
			case "EXPUNGE":
				if len(mine) == 0 {
					uid, aerr := appendOne(cl, t.folder, stressMessage(r))
					if aerr != nil {
						err = aerr
						break
					}
					mine = append(mine, uid)
				}
				uid := mine[len(mine)-1]
				mine = mine[:len(mine)-1]
				set := imap.UIDSetNum(uid)
				if err = cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err == nil {
					err = cl.UIDExpunge(set).Close()
				}
			case "SELECT":
				_, err = cl.Select(t.folder, nil).Wait()
			}
			st.add(op, time.Since(t0), err)
		}
		t0 = time.Now()
		lerr := cl.Logout().Wait()
		if err == nil {
			st.add("LOGOUT", time.Since(t0), lerr)
		}
		cl.Close()
	}
}

func (s *imapStats) report(label string, elapsed time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total, errs := 0, 0
	var kinds []string
	for k, n := range s.ops {
		total += n
		kinds = append(kinds, k)
	}
	for k, n := range s.errs {
		errs += n
		if s.ops[k] == 0 {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		p := fmt.Sprintf("%s %d", k, s.ops[k])
		if s.errs[k] > 0 {
			p += fmt.Sprintf(" (%d errors)", s.errs[k])
		}
		parts = append(parts, p)
	}
	fmt.Printf("%s: %d ops, %d errors in %.2fs: %.0f ops/s; latency p50 %s p99 %s; %s\n",
		label, total, errs, elapsed.Seconds(), float64(total)/elapsed.Seconds(),
		ms(pct(s.lat, 50)), ms(pct(s.lat, 99)), strings.Join(parts, ", "))
	if s.first != nil {
		fmt.Printf("%s: first error: %v\n", label, s.first)
	}
}
