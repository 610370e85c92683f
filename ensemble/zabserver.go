package ensemble

import (
	"bytes"
	"fmt"
	"net"

	"github.com/zabkit/zabkit/broadcast"
	"github.com/zabkit/zabkit/broadcast/transport"
	"github.com/zabkit/zabkit/ensemble/membership"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// zabMode reports whether the peer is a member of an ensemble.
func (s *Server) zabMode() bool { return len(s.cfg.Members) > 0 }

// startZab recovers, opens the peer transport and the client listener, and
// starts the ZAB driver. The caller holds s.state.
func (s *Server) startZab() error {
	st, err := s.recoverZab()
	if err != nil {
		s.closeStorage()
		return err
	}
	self := s.cfg.self()
	ids := make([]uint64, len(s.cfg.Members))
	addrs := make(map[uint64]string, len(s.cfg.Members))
	for i, m := range s.cfg.Members {
		ids[i] = uint64(m.ID)
		addrs[uint64(m.ID)] = m.PeerAddr
	}
	ln, err := net.Listen("tcp", s.cfg.ClientAddr)
	if err != nil {
		s.closeStorage()
		return fmt.Errorf("ensemble: listening on %s: %w", s.cfg.ClientAddr, err)
	}
	// Gossip only maps ids to addresses and hints at failures; the voting
	// set is s.cfg.Members, whatever gossip says.
	var gossip *membership.Membership
	var hints <-chan uint64
	if self.GossipAddr != "" {
		var seeds []string
		for _, m := range s.cfg.Members {
			if m.ID != s.cfg.ServerID && m.GossipAddr != "" {
				seeds = append(seeds, m.GossipAddr)
			}
		}
		gossip, err = membership.Start(membership.Config{
			Self: membership.Meta{ID: uint64(s.cfg.ServerID), ClusterID: s.cfg.ClusterID,
				PeerAddr: self.PeerAddr, ClientAddr: ln.Addr().String()},
			BindAddr: self.GossipAddr, Seeds: seeds, Members: ids, Secret: s.cfg.PeerSecret, Logger: s.log,
		})
		if err != nil {
			_ = ln.Close()
			s.closeStorage()
			return fmt.Errorf("ensemble: gossip on %s: %w", self.GossipAddr, err)
		}
		hints = gossip.Down()
	}
	tr, err := transport.New(transport.Config{
		ID: uint64(s.cfg.ServerID), ClusterID: s.cfg.ClusterID, Secret: s.cfg.PeerSecret,
		ListenAddr: self.PeerAddr, Members: ids, Logger: s.log,
		Resolve: func(id uint64) (string, bool) {
			if gossip != nil {
				if a, ok := gossip.PeerAddr(id); ok {
					return a, true // where the member says it is now
				}
			}
			a, ok := addrs[id]
			return a, ok
		},
	})
	if err != nil {
		_ = ln.Close()
		if gossip != nil {
			_ = gossip.Close()
		}
		s.closeStorage()
		return fmt.Errorf("ensemble: peer transport on %s: %w", self.PeerAddr, err)
	}
	z, err := newZabNode(s, st, tr, hints)
	if err != nil {
		_ = ln.Close()
		_ = tr.Close()
		if gossip != nil {
			_ = gossip.Close()
		}
		s.closeStorage()
		return err
	}
	s.gossip = gossip
	s.ln = ln
	s.net = tr
	s.zab = z
	s.prop = z
	s.state.started = true
	s.wg.Add(2)
	go s.acceptLoop()
	go s.tickLoop()
	s.log.Info("serving", "addr", ln.Addr().String(), "peer", tr.Addr().String(), "id", s.cfg.ServerID,
		"members", len(s.cfg.Members), "zxid", s.tree.LastZxid())
	return nil
}

// PeerAddr returns the address the peer accepts ZAB connections on, or nil
// for a standalone peer or before Start.
func (s *Server) PeerAddr() net.Addr {
	s.state.Lock()
	defer s.state.Unlock()
	if s.net == nil {
		return nil
	}
	return s.net.Addr()
}

// serving reports whether the peer may serve clients now: standalone, or a
// member whose leader is established and has brought it up to date.
func (s *Server) serving() bool {
	return s.zab == nil || s.zab.coreStatus().Serving
}

// dropClients closes every client connection (their sessions live on):
// the peer lost its leader, and clients move to a peer that has one.
func (s *Server) dropClients() {
	s.conns.Lock()
	defer s.conns.Unlock()
	for _, c := range s.conns.m {
		c.close()
	}
}

// installSnapshot replaces the tree with a snapshot the leader sent (SNAP).
// It runs on the applier goroutine.
func (s *Server) installSnapshot(snap *broadcast.Snapshot) {
	t, err := tree.ReadSnapshot(bytes.NewReader(snap.Data), tree.Config{MaxDataBytes: s.cfg.MaxDataBytes})
	if err == nil && t.LastZxid() != tree.Zxid(snap.Zxid) {
		err = fmt.Errorf("%w: snapshot %v holds the tree at %v", tree.ErrCorruptSnapshot, tree.Zxid(snap.Zxid), t.LastZxid())
	}
	if err != nil {
		err = fmt.Errorf("%w: installing the leader's snapshot: %w", ErrBrokenInvariant, err)
		s.log.Error("cannot install snapshot, writes halted", "zxid", tree.Zxid(snap.Zxid), "err", err)
		s.broken.Store(true)
		s.prop.halt(err)
		return
	}
	s.dropClients()
	s.treeMu.Lock()
	s.watchMu.Lock()
	s.watches = tree.NewWatches()
	s.watchMu.Unlock()
	s.installTree(t, uint64(snap.Zxid))
	s.treeMu.Unlock()
	s.log.Info("installed snapshot from leader", "zxid", tree.Zxid(snap.Zxid), "nodes", t.NodeCount())
}

// zabStatus fills the ensemble part of a status.
func (s *Server) zabStatus(st *wire.PeerStatus) {
	if s.zab == nil {
		return
	}
	cs := s.zab.coreStatus()
	st.Role = s.zab.roleName()
	st.Serving = cs.Serving && st.Role != "halted"
	if cs.State != broadcast.StateLooking {
		st.Leader = uint32(cs.Leader)
		st.Epoch = cs.Epoch
	}
	st.AcceptedEpoch, st.CurrentEpoch = cs.AcceptedEpoch, cs.CurrentEpoch
	st.LogZxid, st.Committed = tree.Zxid(cs.LastZxid), tree.Zxid(cs.Committed)
	for _, m := range s.cfg.Members {
		ms := wire.MemberStatus{ID: m.ID, Observer: m.Observer, PeerAddr: m.PeerAddr}
		if m.ID == s.cfg.ServerID {
			ms.Connected = true
			if s.ln != nil {
				ms.ClientAddr = s.ln.Addr().String()
			}
		} else {
			ms.Connected = s.net.Connected(uint64(m.ID))
			ms.ClientAddr = s.zab.clientAddrOf(m.ID)
			if s.gossip != nil {
				if a, ok := s.gossip.ClientAddr(uint64(m.ID)); ok {
					ms.ClientAddr = a
				}
			}
		}
		st.Members = append(st.Members, ms)
	}
}
