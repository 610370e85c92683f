package wal

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// scanResult is what one pass over a segment found.
type scanResult struct {
	path   string
	base   uint64 // from the name
	size   int64
	hdr    segHeader
	hdrBad string // why the header is invalid; "" if it is fine
	count  int
	last   uint64
	end    int64  // offset just past the last good record
	bad    string // why the record at end is invalid; "" for a clean end
}

// recover scans every segment, refuses damaged committed data, cuts a torn
// tail and opens the last segment for appending.
func (l *Log) recover() error {
	names, err := l.fs.ReadDir(l.cfg.Dir)
	if err != nil {
		return fmt.Errorf("wal: list %s: %w", l.cfg.Dir, err)
	}
	var res []scanResult
	for _, name := range names {
		if base, ok := parseSegName(name); ok {
			res = append(res, scanResult{path: filepath.Join(l.cfg.Dir, name), base: base})
		}
	}
	slices.SortFunc(res, func(a, b scanResult) int { return cmp.Compare(a.base, b.base) })
	for i := range res {
		if err := l.scan(&res[i]); err != nil {
			return err
		}
	}
	// Every segment but the last was fsynced whole before the next one was
	// created: any flaw in it is damage to committed data.
	var prevLast uint64
	for i := range len(res) - 1 {
		r := &res[i]
		if r.hdrBad != "" {
			return corrupt(r.path, 0, "%s", r.hdrBad)
		}
		if err := checkChain(r, i, prevLast); err != nil {
			return err
		}
		if r.bad != "" {
			return corrupt(r.path, r.end, "%s (not the last segment)", r.bad)
		}
		if r.count == 0 {
			return corrupt(r.path, headerSize, "no records, but a later segment exists")
		}
		prevLast = r.last
	}
	// The last segment may end in a torn write. A segment that turns out to
	// hold no record at all is removed and the one before becomes the last.
	for len(res) > 0 {
		i := len(res) - 1
		prevLast = 0
		if i > 0 {
			prevLast = res[i-1].last
		}
		removed, err := l.recoverTail(&res[i], i, prevLast)
		if err != nil {
			return err
		}
		if !removed {
			break
		}
		res = res[:i]
	}
	l.mu.segs = make([]segment, len(res))
	for i, r := range res {
		l.mu.segs[i] = segment{base: r.base, last: r.last, end: r.end, path: r.path}
	}
	if len(res) > 0 {
		l.wlast = res[len(res)-1].last
	}
	l.mu.last, l.mu.synced = l.wlast, l.wlast
	// A previous run may have died between creating a segment and syncing
	// the directory; what Open accepted must not vanish with the entry.
	if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
		return fmt.Errorf("wal: sync %s: %w", l.cfg.Dir, err)
	}
	return nil
}

// checkChain checks a segment's valid header against its name and its
// predecessor.
func checkChain(r *scanResult, i int, prevLast uint64) error {
	if r.hdr.base != r.base {
		return corrupt(r.path, 0, "header says first zxid %#x, name says %#x", r.hdr.base, r.base)
	}
	if r.hdr.prev >= r.base {
		return corrupt(r.path, 0, "header says previous zxid %#x, not below first zxid %#x", r.hdr.prev, r.base)
	}
	if i > 0 && r.hdr.prev != prevLast {
		return corrupt(r.path, 0, "previous segment ends at zxid %#x, header says %#x: records are missing", prevLast, r.hdr.prev)
	}
	return nil
}

// scan reads a segment's header and records up to the first invalid one or
// the end. A record that is intact but out of order is corruption.
func (l *Log) scan(r *scanResult) error {
	f, err := l.fs.Open(r.path)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", r.path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("wal: stat %s: %w", r.path, err)
	}
	r.size = st.Size()
	var hb [headerSize]byte
	n, err := f.ReadAt(hb[:min(r.size, headerSize)], 0)
	if err != nil && int64(n) < min(r.size, headerSize) {
		return fmt.Errorf("wal: read %s: %w", r.path, err)
	}
	r.end = headerSize
	r.hdr, r.hdrBad = decodeHeader(hb[:n])
	if r.hdrBad != "" {
		r.end = 0
		return nil
	}
	if r.hdr.base != r.base {
		return corrupt(r.path, 0, "header says first zxid %#x, name says %#x", r.hdr.base, r.base)
	}
	rr := newRecReader(f, headerSize, r.size, l.scratch)
	defer func() { l.scratch = rr.buf }()
	for {
		off := rr.off
		z, _, stat, reason, err := rr.next()
		if err != nil {
			return fmt.Errorf("wal: read %s: %w", r.path, err)
		}
		switch stat {
		case stEnd:
			r.end = off
			return nil
		case stBad:
			r.end, r.bad = off, reason
			return nil
		}
		if r.count == 0 && z != r.base {
			return corrupt(r.path, off, "first record has zxid %#x, segment name says %#x", z, r.base)
		}
		if r.count > 0 && z <= r.last {
			return corrupt(r.path, off, "zxid %#x not greater than %#x before it", z, r.last)
		}
		r.count++
		r.last = z
	}
}

// recoverTail decides the fate of the last segment. Bytes after its last
// good record are a torn write only if no valid record follows them; then
// they are cut. A segment with no good record is removed (it was created but
// never synced). Otherwise the segment becomes the active one.
func (l *Log) recoverTail(r *scanResult, i int, prevLast uint64) (removed bool, err error) {
	minZxid := prevLast
	reason := r.bad
	if r.hdrBad != "" {
		reason = r.hdrBad
	} else {
		if err := checkChain(r, i, prevLast); err != nil {
			return false, err
		}
		if r.count > 0 {
			minZxid = r.last
		}
		if reason == "" {
			reason = "end of log"
		}
	}

	f, err := l.fs.OpenFile(r.path, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("wal: open %s: %w", r.path, err)
	}
	off, z, found, dirty, err := findValid(f, r.end, r.size, minZxid)
	switch {
	case errors.Is(err, errUnverifiable):
		err = corrupt(r.path, r.end, "%s; %v", reason, err)
	case err != nil:
		err = fmt.Errorf("wal: read %s: %w", r.path, err)
	case found:
		err = corrupt(r.path, r.end, "%s, but a valid record (zxid %#x) follows at offset %d: committed data is damaged", reason, z, off)
	}
	if err != nil {
		_ = f.Close()
		return false, err
	}

	if r.hdrBad != "" || r.count == 0 {
		_ = f.Close()
		l.logger.Warn("wal removed segment without records", "file", r.path, "reason", reason)
		if err := l.fs.Remove(r.path); err != nil {
			return false, fmt.Errorf("wal: remove %s: %w", r.path, err)
		}
		if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
			return false, fmt.Errorf("wal: sync %s: %w", l.cfg.Dir, err)
		}
		return true, nil
	}

	// Cut a torn tail: zero everything after the last good record. Either
	// way fdatasync, so whatever the page cache still holds from a previous
	// run is forced to disk (or fails) before anyone relies on it.
	var size int64
	if dirty {
		l.logger.Warn("wal cut torn tail", "file", r.path, "offset", r.end, "zxid", hexZxid(r.last), "reason", reason)
		size, err = l.resetTail(f, r.end)
	} else {
		size = max(r.size, r.end)
		err = f.Sync()
	}
	if err != nil {
		_ = f.Close()
		return false, fmt.Errorf("wal: cut %s: %w", r.path, err)
	}
	l.f, l.fpath, l.fsize, l.woff, l.zeroed = f, r.path, size, r.end, r.end
	return false, nil
}
