package audit

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// BenchmarkCommit compares synced commits of a 1 KB change from parallel writers, plain and
// with one audit record each: the journal's lock covers the WAL append, not the fsync, so
// audited commits should still share fsyncs (go test -bench Commit -cpu 1,16 ./audit).
func BenchmarkCommit(b *testing.B) {
	for _, mode := range []string{"plain", "locked-no-record", "audited"} {
		audited := mode != "plain"
		b.Run(mode, func(b *testing.B) {
			db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quiet{}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			j, err := Open(db, Options{Node: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			val := make([]byte, 1024)
			var n atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					batch := db.NewBatch()
					_ = batch.Set(fmt.Appendf(nil, "k%d", n.Add(1)), val, nil)
					if mode == "locked-no-record" {
						err = j.Commit(batch)
					} else if audited {
						err = j.Commit(batch, Record{Kind: KindSend, Actor: "api:key_bench", Mailbox: "a@example.com",
							Object: "msg_01", Rcpts: j.RcptHashes([]string{"x@example.org"}), Detail: map[string]string{"status": "queued"}})
					} else {
						err = batch.Commit(pebble.Sync)
						batch.Close()
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
