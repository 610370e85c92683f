package membership

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
)

// deriveKey returns the 32-byte gossip key of a cluster's secret.
func deriveKey(clusterID, secret string) []byte {
	sum := sha256.Sum256([]byte(clusterID + "\x00" + secret))
	return sum[:]
}

// Reasons a node is a stranger; constant strings for the log's reason key.
const (
	reasonMeta         = "meta does not decode"
	reasonCluster      = "other cluster"
	reasonName         = "name does not match id"
	reasonUnconfigured = "id not configured"
	reasonSelf         = "claims our id"
)

// maxStrangerNames bounds the set of refused names kept for warn-once and
// counting; past it every refusal of an unrecorded name is counted again.
const maxStrangerNames = 1024

// maxNameKey bounds how much of a refused name is kept and logged.
const maxNameKey = 128

// selfAddr is where our own gossip node is: known after memberlist.Create
// returns; during Create only the exact meta we announce is accepted as us.
type selfAddr struct {
	known bool
	ip    net.IP
	port  uint16
}

// classify applies the stranger rules to a node heard from the network and
// returns its decoded meta, or a reason for refusing it. merge is true for
// the entries of a remote's state during a join, where our own id at another
// address is a stale record of an earlier run of us (memberlist refutes
// it), not a node: the own-id rule is skipped there.
func classify(s *settings, self selfAddr, name string, ip net.IP, port uint16, raw []byte, merge bool) (Meta, string) {
	meta, err := decodeMeta(raw)
	if err != nil {
		return Meta{}, reasonMeta
	}
	if meta.ClusterID != s.self.ClusterID {
		return Meta{}, reasonCluster
	}
	if name != NodeName(meta.ID) {
		return Meta{}, reasonName
	}
	if !s.members[meta.ID] {
		return Meta{}, reasonUnconfigured
	}
	if meta.ID == s.self.ID && !merge {
		if self.known {
			if !self.ip.Equal(ip) || self.port != port {
				return Meta{}, reasonSelf
			}
		} else if !bytes.Equal(raw, s.selfMeta) {
			return Meta{}, reasonSelf
		}
	}
	return meta, ""
}

// strangerError is what a delegate returns to memberlist for a refusal.
func strangerError(name, reason string) error {
	return fmt.Errorf("%w: %q: %s", ErrStranger, clip(name), reason)
}

// clip shortens a name from the network to maxNameKey bytes.
func clip(name string) string {
	if len(name) > maxNameKey {
		return name[:maxNameKey]
	}
	return name
}
