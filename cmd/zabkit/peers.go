package main

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/zabkit/zabkit/ensemble"
)

// Server ids of ensemble members: ZooKeeper's myid range that fits the top
// byte of a session id.
const (
	minMemberID = 1
	maxMemberID = 255
)

// parsePeers reads an ensemble description in the --peers syntax:
//
//	ID=HOST:PEERPORT[:GOSSIPPORT][:observer],...
//
// PEERPORT is where the member accepts ZAB connections (ZooKeeper's quorum
// port, 2888 by custom), GOSSIPPORT where its memberlist agent listens (the
// place of ZooKeeper's 3888), and a trailing ":observer" makes a non-voting
// member (":participant" is accepted and means the default). HOST may be a
// name, an IPv4 address, or an IPv6 address in brackets. The members come
// back sorted by id. It fails on a malformed entry, an id outside 1..255, a
// bad port, a duplicate id or address, or an ensemble without a voter.
func parsePeers(s string) ([]ensemble.Member, error) {
	var members []ensemble.Member
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		m, err := parseMember(entry)
		if err != nil {
			return nil, err
		}
		members = append(members, m)
	}
	if len(members) == 0 {
		return nil, errors.New("no peers (want ID=HOST:PEERPORT[:GOSSIPPORT][:observer],...)")
	}
	slices.SortFunc(members, func(a, b ensemble.Member) int { return int(a.ID) - int(b.ID) })
	if err := checkMembers(members); err != nil {
		return nil, err
	}
	return members, nil
}

// parseMember reads one ID=HOST:PEERPORT[:GOSSIPPORT][:observer] entry.
func parseMember(entry string) (ensemble.Member, error) {
	var m ensemble.Member
	idText, rest, ok := strings.Cut(entry, "=")
	if !ok {
		return m, fmt.Errorf("%q: want ID=HOST:PEERPORT[:GOSSIPPORT][:observer]", entry)
	}
	id, err := parseMemberID(strings.TrimSpace(idText))
	if err != nil {
		return m, fmt.Errorf("%q: %w", entry, err)
	}
	m.ID = id
	host, fields, err := splitHost(strings.TrimSpace(rest))
	if err != nil {
		return m, fmt.Errorf("%q: %w", entry, err)
	}
	if n := len(fields); n > 0 {
		switch strings.ToLower(fields[n-1]) {
		case "observer":
			m.Observer = true
			fields = fields[:n-1]
		case "participant":
			fields = fields[:n-1]
		}
	}
	switch len(fields) {
	case 0:
		return m, fmt.Errorf("%q: missing the peer port", entry)
	case 1, 2:
	default:
		if last := fields[len(fields)-1]; strings.Trim(last, "0123456789") != "" {
			return m, fmt.Errorf("%q: %q is not a member type (want observer or participant)", entry, last)
		}
		return m, fmt.Errorf("%q: too many fields (want HOST:PEERPORT[:GOSSIPPORT][:observer])", entry)
	}
	ports := make([]string, len(fields))
	for i, f := range fields {
		p, err := parsePort(f)
		if err != nil {
			return m, fmt.Errorf("%q: %w", entry, err)
		}
		ports[i] = strconv.Itoa(p)
	}
	m.PeerAddr = net.JoinHostPort(host, ports[0])
	if len(ports) == 2 {
		m.GossipAddr = net.JoinHostPort(host, ports[1])
	}
	return m, nil
}

// parseMemberID reads a server id, 1..255.
func parseMemberID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < minMemberID || n > maxMemberID {
		return 0, fmt.Errorf("server id %q: want %d..%d", s, minMemberID, maxMemberID)
	}
	return uint32(n), nil
}

// parsePort reads a TCP port, 1..65535.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q: want 1..65535", s)
	}
	return n, nil
}

// splitHost splits "host:a:b" or "[v6]:a:b" into the host and the fields
// after it.
func splitHost(s string) (string, []string, error) {
	var host, rest string
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", nil, errors.New("missing ] after an IPv6 address")
		}
		host, rest = s[1:end], s[end+1:]
		if rest != "" && rest[0] != ':' {
			return "", nil, errors.New("want :PORT after ]")
		}
		rest = strings.TrimPrefix(rest, ":")
	} else {
		var found bool
		host, rest, found = strings.Cut(s, ":")
		if !found {
			rest = ""
		}
	}
	if host == "" {
		return "", nil, errors.New("missing host")
	}
	if rest == "" {
		return host, nil, nil
	}
	return host, strings.Split(rest, ":"), nil
}

// checkMembers checks a whole ensemble: unique ids, no address used twice,
// at least one voter.
func checkMembers(members []ensemble.Member) error {
	ids := map[uint32]bool{}
	addrs := map[string]string{} // address -> what uses it
	voters := 0
	for _, m := range members {
		if ids[m.ID] {
			return fmt.Errorf("server id %d appears twice", m.ID)
		}
		ids[m.ID] = true
		if !m.Observer {
			voters++
		}
		for _, use := range []struct{ addr, what string }{
			{m.PeerAddr, fmt.Sprintf("peer port of %d", m.ID)},
			{m.GossipAddr, fmt.Sprintf("gossip port of %d", m.ID)},
		} {
			if use.addr == "" {
				continue
			}
			if prev, dup := addrs[use.addr]; dup {
				return fmt.Errorf("address %s is both the %s and the %s", use.addr, prev, use.what)
			}
			addrs[use.addr] = use.what
		}
	}
	if voters == 0 {
		return errors.New("no voter: every peer is an observer")
	}
	return nil
}

// voterCount returns how many members vote.
func voterCount(members []ensemble.Member) int {
	n := 0
	for _, m := range members {
		if !m.Observer {
			n++
		}
	}
	return n
}

// formatPeers writes members back in the --peers syntax, the inverse of
// parsePeers.
func formatPeers(members []ensemble.Member) string {
	parts := make([]string, len(members))
	for i, m := range members {
		s := strconv.FormatUint(uint64(m.ID), 10) + "=" + m.PeerAddr
		if m.GossipAddr != "" {
			_, port, err := net.SplitHostPort(m.GossipAddr)
			if err != nil {
				port = m.GossipAddr
			}
			s += ":" + port
		}
		if m.Observer {
			s += ":observer"
		}
		parts[i] = s
	}
	return strings.Join(parts, ",")
}

// findMember returns the member with id, or false.
func findMember(members []ensemble.Member, id uint32) (ensemble.Member, bool) {
	for _, m := range members {
		if m.ID == id {
			return m, true
		}
	}
	return ensemble.Member{}, false
}
