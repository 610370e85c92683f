package membership

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	"github.com/hashicorp/memberlist"
)

// MaxMetaBytes is the largest meta a node may announce: memberlist's own
// limit for NodeMeta. Encoded meta larger than this is refused locally
// (ErrConfig) and from the network (a stranger).
const MaxMetaBytes = memberlist.MetaMaxSize

// Meta is what a member announces about itself in its gossip node meta.
type Meta struct {
	// ID is the member's server id; its gossip node name is NodeName(ID).
	ID uint64
	// ClusterID names the ensemble; nodes of another cluster are strangers.
	ClusterID string
	// PeerAddr is the host:port where the member accepts ZAB connections now.
	PeerAddr string
	// ClientAddr is the host:port where the member serves clients now;
	// empty if it serves none (yet).
	ClientAddr string
}

// wireMeta is Meta as it travels: a JSON object with short keys, so that
// long addresses still fit in MaxMetaBytes. Unknown keys are ignored, so a
// later version may add fields.
type wireMeta struct {
	ID      uint64 `json:"id"`
	Cluster string `json:"c"`
	Peer    string `json:"p"`
	Client  string `json:"cl,omitempty"`
}

// NodeName returns the gossip node name of server id: "zabkit-<id>".
func NodeName(id uint64) string {
	return "zabkit-" + strconv.FormatUint(id, 10)
}

// encodeMeta returns m as it is announced. It fails with ErrConfig when a
// field is invalid or the encoding is longer than MaxMetaBytes.
func encodeMeta(m Meta) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	b, err := json.Marshal(wireMeta{ID: m.ID, Cluster: m.ClusterID, Peer: m.PeerAddr, Client: m.ClientAddr})
	if err != nil {
		return nil, fmt.Errorf("%w: encode meta: %w", ErrConfig, err)
	}
	if len(b) > MaxMetaBytes {
		return nil, fmt.Errorf("%w: meta is %d bytes, more than %d", ErrConfig, len(b), MaxMetaBytes)
	}
	return b, nil
}

// decodeMeta decodes meta received from the network. The size is checked
// before anything is decoded; the result is a typed struct whose fields
// pass the same checks as our own. Any failure wraps ErrBadMeta.
func decodeMeta(b []byte) (Meta, error) {
	if len(b) == 0 || len(b) > MaxMetaBytes {
		return Meta{}, fmt.Errorf("%w: %d bytes", ErrBadMeta, len(b))
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Meta{}, fmt.Errorf("%w: not a JSON object", ErrBadMeta)
	}
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, fmt.Errorf("%w: %w", ErrBadMeta, err)
	}
	m := Meta{ID: w.ID, ClusterID: w.Cluster, PeerAddr: w.Peer, ClientAddr: w.Client}
	if err := m.validate(); err != nil {
		return Meta{}, fmt.Errorf("%w: %w", ErrBadMeta, err)
	}
	return m, nil
}

// validate checks the fields every announced meta must satisfy.
func (m Meta) validate() error {
	if m.ClusterID == "" {
		return fmt.Errorf("empty cluster id")
	}
	if err := checkHostPort(m.PeerAddr); err != nil {
		return fmt.Errorf("peer addr: %w", err)
	}
	if m.ClientAddr != "" {
		if err := checkHostPort(m.ClientAddr); err != nil {
			return fmt.Errorf("client addr: %w", err)
		}
	}
	return nil
}

// checkHostPort accepts "host:port" with a non-empty host and a port in
// 0..65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q has a bad port", s)
	}
	return nil
}
