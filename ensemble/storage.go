package ensemble

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/zabkit/zabkit/broadcast/snap"
	"github.com/zabkit/zabkit/broadcast/wal"
	"github.com/zabkit/zabkit/internal/mpsafe"
	"github.com/zabkit/zabkit/tree"
)

// recover rebuilds the standalone peer's tree: the newest valid snapshot,
// then every log record after it, each checked to follow the one before.
// Sessions found get a fresh full timeout, as in ZooKeeper.
func (s *Server) recover() error {
	began := time.Now()
	t, snapZxid, err := s.loadSnapshot()
	if err != nil {
		return err
	}
	l, err := wal.Open(wal.Config{Dir: filepath.Join(s.cfg.DataDir, "log"), FS: s.cfg.FS,
		SegmentBytes: s.walSegmentBytes, Logger: s.log})
	if err != nil {
		return fmt.Errorf("ensemble: opening txn log: %w", err)
	}
	s.wal = l
	prev := tree.Zxid(snapZxid)
	replayed := 0
	err = l.Replay(snapZxid, func(rec wal.Record) error {
		z := tree.Zxid(rec.Zxid)
		if want := nextZxid(prev); z != want {
			// No snapshot and a log that does not start at the first zxid,
			// or a hole: records are missing; refuse rather than guess.
			return fmt.Errorf("%w: after %v the log has %v, want %v", ErrLogGap, prev, z, want)
		}
		txn, err := decodeTxn(rec.Data)
		if err != nil {
			return fmt.Errorf("%w: record %v: %w", ErrCorruptTxn, z, err)
		}
		if txn.Zxid != z {
			return fmt.Errorf("%w: record %v holds txn %v", ErrCorruptTxn, z, txn.Zxid)
		}
		if _, _, err := t.Apply(&txn); err != nil {
			return fmt.Errorf("%w: replaying %v: %w", ErrBrokenInvariant, z, err)
		}
		prev = z
		replayed++
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensemble: replaying txn log: %w", err)
	}
	s.installTree(t, snapZxid)
	s.log.Info("recovered", "zxid", t.LastZxid(), "snapshot", tree.Zxid(snapZxid), "replayed", replayed,
		"sessions", len(t.Sessions()), "nodes", t.NodeCount(), "took", time.Since(began))
	return nil
}

// loadSnapshot opens the snapshot store and returns the tree of the newest
// valid snapshot (an empty tree and zxid 0 when there is none).
func (s *Server) loadSnapshot() (*tree.Tree, uint64, error) {
	tcfg := tree.Config{MaxDataBytes: s.cfg.MaxDataBytes}
	snaps, err := snap.Open(filepath.Join(s.cfg.DataDir, "snap"), s.cfg.FS, s.log)
	if err != nil {
		return nil, 0, fmt.Errorf("ensemble: opening snapshots: %w", err)
	}
	s.snaps = snaps
	var t *tree.Tree
	snapZxid, err := snaps.Load(func(zxid uint64, r io.Reader) error {
		loaded, err := tree.ReadSnapshot(r, tcfg)
		if err != nil {
			return err
		}
		if uint64(loaded.LastZxid()) != zxid {
			return fmt.Errorf("%w: snapshot %v holds the tree at %v", tree.ErrCorruptSnapshot,
				tree.Zxid(zxid), loaded.LastZxid())
		}
		t = loaded
		return nil
	})
	switch {
	case errors.Is(err, snap.ErrNoSnapshot):
		return tree.New(tcfg), 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("ensemble: loading snapshot: %w", err)
	}
	return t, snapZxid, nil
}

// installTree makes t the peer's tree (at start, or after a SNAP from the
// leader) and tracks its sessions with a fresh full timeout. snapZxid is
// the snapshot t came from (0: none). Callers that run concurrently with
// readers hold treeMu.
func (s *Server) installTree(t *tree.Tree, snapZxid uint64) {
	s.tree = t
	s.lastZxid.Store(int64(t.LastZxid()))
	s.snapState.Lock()
	s.snapState.zxids = nil
	if snapZxid != 0 {
		s.snapState.zxids = []tree.Zxid{tree.Zxid(snapZxid)}
	}
	s.snapState.Unlock()
	restored := t.Sessions()
	s.seedSessions(restored)
	s.sessions.reset()
	now := s.now()
	for _, row := range restored {
		s.sessions.add(row.ID, time.Duration(row.Timeout)*time.Millisecond, now)
	}
}

// decodeTxn decodes a log record: checked for hostile lengths first, then
// into the typed struct.
func decodeTxn(data []byte) (tree.Txn, error) {
	var txn tree.Txn
	if err := mpsafe.Check(data); err != nil {
		return txn, err
	}
	if err := msgpack.Unmarshal(data, &txn); err != nil {
		return txn, err
	}
	return txn, nil
}

// closeStorage closes the log after a failed Start.
func (s *Server) closeStorage() {
	if s.wal != nil {
		_ = s.wal.Close()
		s.wal = nil
	}
}

// maybeSnapshotLocked counts applied txns and, every SnapshotEvery, takes a
// frozen view of the tree (cheap, under the write lock the caller holds) and
// writes it in the background without any lock: applies go on meanwhile.
func (s *Server) maybeSnapshotLocked(applied int) {
	s.snapState.Lock()
	defer s.snapState.Unlock()
	s.snapState.since += applied
	if s.snapState.since < s.cfg.SnapshotEvery || s.snapState.running {
		return
	}
	s.snapState.since = 0
	s.snapState.running = true
	done := make(chan struct{})
	s.snapState.done = done
	frozen := s.tree.Snapshot()
	go func() {
		defer close(done)
		if err := s.writeSnapshot(frozen); err != nil {
			s.log.Warn("snapshot failed", "zxid", frozen.Zxid(), "err", err)
		}
		s.snapState.Lock()
		s.snapState.running = false
		s.snapState.Unlock()
	}()
}

// waitSnapshot waits for a background snapshot to end.
func (s *Server) waitSnapshot() {
	s.snapState.Lock()
	done := s.snapState.done
	s.snapState.Unlock()
	if done != nil {
		<-done
	}
}

// snapshotNow writes a snapshot of the current tree unless the newest one
// already holds it. The pipeline must be stopped.
func (s *Server) snapshotNow() error {
	s.treeMu.Lock()
	frozen := s.tree.Snapshot()
	s.treeMu.Unlock()
	s.snapState.Lock()
	n := len(s.snapState.zxids)
	have := n > 0 && s.snapState.zxids[n-1] >= frozen.Zxid()
	s.snapState.Unlock()
	if have || frozen.Zxid() == 0 {
		frozen.Release()
		return nil
	}
	return s.writeSnapshot(frozen)
}

// writeSnapshot writes frozen durably, drops the snapshots beyond
// SnapshotRetain and lets the log drop what the oldest kept one covers.
func (s *Server) writeSnapshot(frozen *tree.Frozen) error {
	began := time.Now()
	z := frozen.Zxid()
	defer frozen.Release() // Apply stops copying for the view
	err := s.snaps.Write(uint64(z), func(w io.Writer) error {
		_, err := frozen.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("ensemble: writing snapshot %v: %w", z, err)
	}
	s.log.Info("snapshot written", "zxid", z, "took", time.Since(began))
	s.snapState.Lock()
	s.snapState.zxids = append(s.snapState.zxids, z)
	keep := s.cfg.SnapshotRetain
	var purge tree.Zxid
	if len(s.snapState.zxids) >= keep {
		s.snapState.zxids = s.snapState.zxids[len(s.snapState.zxids)-keep:]
		purge = s.snapState.zxids[0]
	}
	s.snapState.Unlock()
	if s.zab != nil {
		// The core may drop the txns the snapshot holds from memory.
		s.zab.compactTo(z)
	}
	if err := s.snaps.Retain(keep); err != nil {
		return fmt.Errorf("ensemble: dropping old snapshots: %w", err)
	}
	if purge != 0 {
		// The log is kept from the oldest kept snapshot on, so a fallback
		// to it can still replay to the end.
		s.prop.purgeThrough(purge)
	}
	return nil
}
