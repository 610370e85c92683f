//go:build unix

package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/broadcast/wal"
)

// The txn log's layout, as broadcast/wal's doc.go describes it: segments
// named log.<16 hex digits>, a 32-byte header, then records of
// length(4) crc(4) zxid(8) data, where length = 8 + len(data); a zero
// length (the preallocated zeros) or the end of the file ends a segment.
const (
	walHeaderBytes    = 32
	walRecHeaderBytes = 16
	walSegPrefix      = "log."
)

// tornMode is a way to damage the end of a log.
type tornMode int

const (
	// tornCut truncates the segment file in the middle of its last record.
	tornCut tornMode = iota
	// tornGarbage writes random bytes right after the last record.
	tornGarbage
	// tornFlip flips a byte inside the last record (checksum mismatch).
	tornFlip
)

var tornModes = []tornMode{tornCut, tornGarbage, tornFlip}

func (m tornMode) String() string {
	switch m {
	case tornCut:
		return "cut-mid-record"
	case tornGarbage:
		return "garbage-after-last-record"
	case tornFlip:
		return "flipped-byte-in-last-record"
	}
	return fmt.Sprintf("tornMode(%d)", int(m))
}

// segTail describes the end of the newest segment of a log.
type segTail struct {
	path      string
	records   int    // records in the segment
	lastZxid  uint64 // zxid of its last record
	prevZxid  uint64 // zxid of the record before it (0 if it is the first)
	lastStart int64  // offset of the last record
	lastEnd   int64  // offset just past it
	// zeroCut: the damage left only zero bytes of the last record (a cut
	// inside its length word, whose high bytes are zero), which the log
	// cannot tell from its preallocated zeros: it ends there without
	// reporting a torn tail.
	zeroCut bool
}

// newestSegment returns the path of the segment with the highest base
// zxid in logDir.
func newestSegment(logDir string) (string, error) {
	ents, err := os.ReadDir(logDir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, walSegPrefix) && len(n) == len(walSegPrefix)+16 && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no log segment in %s", logDir)
	}
	slices.Sort(names) // fixed-width hex: lexical order is zxid order
	return filepath.Join(logDir, names[len(names)-1]), nil
}

// readTail walks the records of segment path and returns where its last
// one is. It does not check checksums: the log it reads was written whole
// by a process that then died, not by a torn write.
func readTail(path string) (segTail, error) {
	f, err := os.Open(path)
	if err != nil {
		return segTail{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return segTail{}, err
	}
	tail := segTail{path: path}
	size := st.Size()
	off := int64(walHeaderBytes)
	var hdr [walRecHeaderBytes]byte
	for off+walRecHeaderBytes <= size {
		if _, err := f.ReadAt(hdr[:], off); err != nil && !errors.Is(err, io.EOF) {
			return segTail{}, err
		}
		length := int64(binary.BigEndian.Uint32(hdr[0:]))
		if length == 0 {
			break
		}
		if length < 8 || off+8+length > size {
			return segTail{}, fmt.Errorf("%s: implausible record length %d at offset %d", path, length, off)
		}
		tail.prevZxid = tail.lastZxid
		tail.lastZxid = binary.BigEndian.Uint64(hdr[8:])
		tail.lastStart, tail.lastEnd = off, off+8+length
		tail.records++
		off = tail.lastEnd
	}
	if tail.records == 0 {
		return segTail{}, fmt.Errorf("%s: no records", path)
	}
	return tail, nil
}

// damageTail damages the end of the newest segment in logDir the way mode
// says and returns what the segment held before.
func damageTail(logDir string, mode tornMode, rng *rand.Rand) (segTail, error) {
	path, err := newestSegment(logDir)
	if err != nil {
		return segTail{}, err
	}
	tail, err := readTail(path)
	if err != nil {
		return segTail{}, err
	}
	recLen := tail.lastEnd - tail.lastStart
	switch mode {
	case tornCut:
		// Somewhere strictly inside the record: at least one byte of it
		// stays, at least one goes.
		cut := tail.lastStart + 1 + rng.Int64N(recLen-1)
		kept := make([]byte, cut-tail.lastStart)
		if err := readAt(path, kept, tail.lastStart); err != nil {
			return tail, err
		}
		tail.zeroCut = !slices.ContainsFunc(kept, func(b byte) bool { return b != 0 })
		return tail, os.Truncate(path, cut)
	case tornGarbage:
		junk := make([]byte, 16+rng.IntN(500))
		for i := range junk {
			junk[i] = byte(rng.IntN(256))
		}
		junk[0] |= 0x80 // never a zero length: not a clean end
		return tail, writeAt(path, junk, tail.lastEnd)
	case tornFlip:
		// Any byte after the length word: the crc, the zxid or the data.
		at := tail.lastStart + 4 + rng.Int64N(recLen-4)
		b := make([]byte, 1)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return tail, err
		}
		defer f.Close()
		if _, err := f.ReadAt(b, at); err != nil {
			return tail, err
		}
		b[0] ^= byte(1 + rng.IntN(255))
		_, err = f.WriteAt(b, at)
		return tail, err
	}
	return tail, fmt.Errorf("unknown torn mode %d", mode)
}

// readAt fills b from offset off of the file at path.
func readAt(path string, b []byte, off int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.ReadAt(b, off)
	return err
}

// writeAt writes b at offset off of the file at path.
func writeAt(path string, b []byte, off int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, off); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// TestDamageTailAsWalSees checks the harness's damage against the log
// package itself: after each kind of damage wal.Open accepts the log, cuts
// the torn tail, and ends at the record before the damaged one (or at the
// last record when only garbage followed it).
func TestDamageTailAsWalSees(t *testing.T) {
	rng := testRand(t)
	for _, mode := range tornModes {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			l, err := wal.Open(wal.Config{Dir: dir, SegmentBytes: 64 << 10})
			require.NoError(t, err)
			n := 5 + rng.IntN(50)
			for i := 1; i <= n; i++ {
				data := make([]byte, 1+rng.IntN(300))
				for j := range data {
					data[j] = byte(rng.IntN(256))
				}
				require.NoError(t, l.Append(wal.Record{Zxid: 1<<32 | uint64(i), Data: data}))
			}
			require.NoError(t, l.Sync())
			require.NoError(t, l.Close())

			tail, err := damageTail(dir, mode, rng)
			require.NoError(t, err)
			assert.Equal(t, uint64(1<<32|n), tail.lastZxid)

			l, err = wal.Open(wal.Config{Dir: dir, SegmentBytes: 64 << 10})
			require.NoError(t, err, "a torn tail must not stop Open")
			defer l.Close()
			want := tail.prevZxid
			if mode == tornGarbage {
				want = tail.lastZxid
			}
			assert.Equal(t, want, l.LastZxid(), "%v of %d records", mode, n)
			// The cut log takes appends after its new end.
			require.NoError(t, l.Append(wal.Record{Zxid: want + 1, Data: []byte("after")}))
			require.NoError(t, l.Sync())
		})
	}
}
