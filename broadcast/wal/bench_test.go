package wal

import (
	"fmt"
	"testing"

	"github.com/zabkit/zabkit/internal/vfs"
)

// BenchmarkAppendSync measures durable write throughput on the real disk:
// each iteration appends a batch of 128-byte records and syncs it (one
// fdatasync). fsyncs/s is the bound on group commits per second; records/s
// the bound on durable writes at that batch size.
func BenchmarkAppendSync(b *testing.B) {
	for _, batch := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l, err := Open(Config{Dir: b.TempDir(), FS: vfs.OS()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			data := make([]byte, 128)
			recs := make([]Record, batch)
			var z uint64
			b.SetBytes(int64(batch * len(data)))
			b.ReportAllocs()
			for b.Loop() {
				for j := range recs {
					z++
					recs[j] = Record{Zxid: z, Data: data}
				}
				if err := l.Append(recs...); err != nil {
					b.Fatal(err)
				}
				if err := l.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N*batch)/s, "records/s")
			b.ReportMetric(float64(b.N)/s, "fsyncs/s")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/sync")
		})
	}
}

// BenchmarkOpenReplay measures restart: Open (scan and verify every record,
// check the tail) then Replay of 100,000 128-byte records on the real disk.
func BenchmarkOpenReplay(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(Config{Dir: dir, FS: vfs.OS()})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 128)
	const n = 100_000
	for z := uint64(1); z <= n; z++ {
		if err := l.Append(Record{Zxid: z, Data: data}); err != nil {
			b.Fatal(err)
		}
		if z%1000 == 0 {
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		l, err := Open(Config{Dir: dir, FS: vfs.OS()})
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		if err := l.Replay(0, func(Record) error { count++; return nil }); err != nil {
			b.Fatal(err)
		}
		if count != n {
			b.Fatalf("replayed %d", count)
		}
		_ = l.Close()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
