package ensemble

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/zabkit/zabkit/broadcast/wal"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// proposal is one item of the ordered pipeline: a txn to make durable and
// apply, or a barrier (txn == nil) that is delivered once everything
// proposed before it has been applied.
type proposal struct {
	txn *tree.Txn
	// appended is set by the proposer once txn is in the log's buffer.
	appended bool
	// err is set by the proposer when the txn was not made durable (a failed
	// append or fsync, or writes halted): it is then delivered unapplied.
	err error
	// seq is the ZAB driver's sequence number for this peer's txn.
	seq uint64
	// done is called by the applier, with the tree write lock held, after
	// the txn is applied (res is its result) or with err set. It may be nil.
	done func(res *tree.Result, err error)
}

// proposer is the seam between sessions and connections on one side and
// "order and make durable" on the other. The standalone peer's proposer
// appends to the local txn log and fsyncs; the ZAB issue swaps in the
// broadcast layer behind the same three methods.
//
// Contract: proposals are delivered to the applier function given at
// construction in the order propose was called, each txn only after it is
// durable, one batch at a time from a single goroutine.
type proposer interface {
	// propose assigns p.txn its zxid (when p.txn is set) and queues p. It
	// never blocks on I/O. It reports false, and p will never be delivered,
	// once stop has begun.
	propose(p *proposal) bool
	// purgeThrough lets the log drop records at or below z (they are in a
	// snapshot that is kept).
	purgeThrough(z tree.Zxid)
	// halt stops making anything durable: every proposal not yet delivered,
	// and every later one, is delivered with an error wrapping err.
	halt(err error)
	// stop delivers everything already proposed, then stops the goroutines.
	stop()
}

// txnLog is what the standalone proposer needs of broadcast/wal.
type txnLog interface {
	Append(recs ...wal.Record) error
	Sync() error
	PurgeThrough(zxid uint64) error
}

// nextZxid returns the zxid that follows last: epoch 1 counter 1 for the
// first txn ever, a new epoch when the counter is exhausted (ZOOKEEPER-1277:
// the counter never wraps), last+1 otherwise.
func nextZxid(last tree.Zxid) tree.Zxid {
	switch {
	case last == 0:
		return tree.MakeZxid(1, 1)
	case last.Counter() == math.MaxUint32:
		return tree.MakeZxid(last.Epoch()+1, 1)
	default:
		return last + 1
	}
}

// logProposer is the standalone proposer. propose stamps the zxid, encodes
// the txn and appends it to the log's buffer (no I/O) under one lock, so
// log order is zxid order is queue order; one group-commit goroutine then
// takes everything queued, fsyncs once, and hands the batch to the apply
// goroutine, which delivers it while the next fsync runs.
type logProposer struct {
	log     txnLog
	deliver func(batch []*proposal)
	logger  *slog.Logger
	wg      sync.WaitGroup
	// durable carries synced batches, in order, from the group-commit
	// goroutine to the apply goroutine.
	durable chan []*proposal

	mu struct {
		sync.Mutex
		cond     sync.Cond
		last     tree.Zxid // zxid of the last txn queued
		queue    []*proposal
		purge    tree.Zxid
		failed   error
		stopping bool
		enc      *msgpack.Encoder
		buf      bytes.Buffer
	}
}

// newLogProposer starts the group-commit goroutine. last is the zxid of the
// last txn in the log (and applied to the tree).
func newLogProposer(l txnLog, last tree.Zxid, deliver func([]*proposal), logger *slog.Logger) *logProposer {
	p := &logProposer{log: l, deliver: deliver, logger: logger, durable: make(chan []*proposal, 64)}
	p.mu.cond.L = &p.mu.Mutex
	p.mu.last = last
	p.mu.enc = msgpack.NewEncoder(&p.mu.buf)
	p.mu.enc.UseCompactInts(true)
	p.wg.Add(2)
	go p.run()
	go p.applyLoop()
	return p
}

func (p *logProposer) propose(pr *proposal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.stopping {
		return false
	}
	if pr.txn != nil {
		p.appendLocked(pr)
	}
	p.mu.queue = append(p.mu.queue, pr)
	if len(p.mu.queue) == 1 {
		p.mu.cond.Signal()
	}
	return true
}

// appendLocked stamps pr's txn with the next zxid and appends it to the
// log's buffer, or sets pr.err.
func (p *logProposer) appendLocked(pr *proposal) {
	if p.mu.failed != nil {
		pr.err = p.mu.failed
		return
	}
	z := nextZxid(p.mu.last)
	pr.txn.Zxid = z
	p.mu.buf.Reset()
	if err := p.mu.enc.Encode(pr.txn); err != nil {
		pr.err = fmt.Errorf("%w: encoding txn: %w", wire.ErrSystemError, err)
		return
	}
	// The log copies the bytes; the buffer is reused.
	if err := p.log.Append(wal.Record{Zxid: uint64(z), Data: p.mu.buf.Bytes()}); err != nil {
		p.logger.Error("txn log append failed, writes halted", "zxid", z, "err", err)
		pr.err = p.haltLocked(err)
		return
	}
	p.mu.last = z
	pr.appended = true
}

func (p *logProposer) purgeThrough(z tree.Zxid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if z > p.mu.purge {
		p.mu.purge = z
		p.mu.cond.Signal()
	}
}

func (p *logProposer) halt(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.haltLocked(err)
}

func (p *logProposer) haltLocked(err error) error {
	if p.mu.failed == nil {
		p.mu.failed = fmt.Errorf("%w: writes halted: %w", wire.ErrSystemError, err)
	}
	return p.mu.failed
}

func (p *logProposer) stop() {
	p.mu.Lock()
	p.mu.stopping = true
	p.mu.cond.Signal()
	p.mu.Unlock()
	p.wg.Wait()
}

// run is the group-commit loop: take everything queued, fsync once for all
// of it, deliver the batch in order.
func (p *logProposer) run() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		for len(p.mu.queue) == 0 && p.mu.purge == 0 && !p.mu.stopping {
			p.mu.cond.Wait()
		}
		batch := p.mu.queue
		p.mu.queue = nil
		purge := p.mu.purge
		p.mu.purge = 0
		stopping := p.mu.stopping
		failed := p.mu.failed
		p.mu.Unlock()

		if len(batch) > 0 {
			durable := false
			for _, pr := range batch {
				durable = durable || pr.appended
			}
			if durable && failed == nil {
				// Group commit: one fsync for every txn appended so far.
				if err := p.log.Sync(); err != nil {
					// Never continue on a failed fsync: what is on disk is
					// unknown, so nothing more is acknowledged (ZOOKEEPER-2247).
					p.logger.Error("txn log fsync failed, writes halted", "err", err)
					p.mu.Lock()
					failed = p.haltLocked(err)
					p.mu.Unlock()
				}
			}
			if failed != nil {
				for _, pr := range batch {
					if pr.appended {
						pr.err = failed
					}
				}
			}
			// Persist before apply and before reply: the batch reaches the
			// applier only now, and the next fsync may start at once.
			p.durable <- batch
		}
		if purge != 0 && failed == nil {
			if err := p.log.PurgeThrough(uint64(purge)); err != nil {
				p.logger.Warn("cannot purge txn log", "zxid", purge, "err", err)
			}
		}
		if stopping {
			p.mu.Lock()
			empty := len(p.mu.queue) == 0
			p.mu.Unlock()
			if empty {
				close(p.durable)
				return
			}
		}
	}
}

// applyLoop delivers synced batches in order.
func (p *logProposer) applyLoop() {
	defer p.wg.Done()
	for batch := range p.durable {
		p.deliver(batch)
	}
}
