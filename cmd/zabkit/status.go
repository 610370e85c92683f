package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// askStatus asks one server for its status; client.PeerStatus in the
// binary, a fake in tests.
type askStatus func(ctx context.Context, addr string) (*wire.PeerStatus, error)

func (a *app) statusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "show every peer's role, epoch, last zxid and whether their digests agree",
		Long: `Ask every server (--servers, else $ZABKIT_SERVERS, else 127.0.0.1:2281) for its
status, and every other member those servers know of (at the client address
gossip told them), then print one row per peer: id, client address, role
(standalone, leading, following, observing, looking), the leader it follows,
epoch, last applied zxid, sessions, znodes, and the digest of its tree.

The last lines say whether the digests agree among peers at the same last
zxid (peers at different zxids are not compared: run it again), and which
servers did not answer.

With --json it prints one object: {"peers": [...], "agree": true,
"differ": [...], "unanswered": [...]}; zxids are numbers, digests hex strings.

Exit code 0 when every peer answered and no digests differ, 1 otherwise
(what did answer is still printed), 2 on a usage error.`,
		Args:                  nargs(),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			servers, err := a.serverList()
			if err != nil {
				return err
			}
			ctx, stop := a.notify(cmd.Context())
			defer stop()
			timeout := a.connectTimeout
			ask := func(ctx context.Context, addr string) (*wire.PeerStatus, error) {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return client.PeerStatus(ctx, addr)
			}
			rep := gatherStatus(ctx, servers, ask)
			if ctx.Err() != nil {
				return failed(ctx.Err())
			}
			var werr error
			if a.jsonOut {
				werr = writeJSON(cmd.OutOrStdout(), rep.json())
			} else {
				werr = rep.writeText(cmd.OutOrStdout())
			}
			if werr != nil {
				return failed(werr)
			}
			if !rep.ok() {
				return &exitErr{code: exitError, silent: true}
			}
			return nil
		},
	}
	return cmd
}

// peerRow is one server asked: its answer, or why there is none.
type peerRow struct {
	addr string // the client address asked; "" if no member told it
	id   uint32 // the server id: answered, or expected from Members; 0 unknown
	st   *wire.PeerStatus
	err  error
}

// statusReport is what `zabkit status` found.
type statusReport struct {
	rows []peerRow
}

// gatherStatus asks every address in seeds, then every member that the
// answers list with a client address and that has not answered yet, until
// no one new is found. Members known only by id (no client address) get a
// row without an answer. Rows come back sorted by id, then address.
func gatherStatus(ctx context.Context, seeds []string, ask askStatus) *statusReport {
	asked := map[string]bool{}
	var rows []peerRow
	next := make([]peerRow, 0, len(seeds))
	for _, s := range seeds {
		if !asked[s] {
			asked[s] = true
			next = append(next, peerRow{addr: s})
		}
	}
	for len(next) > 0 && ctx.Err() == nil {
		var wg sync.WaitGroup
		for i := range next {
			wg.Add(1)
			go func(r *peerRow) {
				defer wg.Done()
				st, err := ask(ctx, r.addr)
				switch {
				case err != nil:
					r.err = err
				case r.id != 0 && st.ServerID != r.id:
					r.err = fmt.Errorf("answered as server %d, not %d", st.ServerID, r.id)
				default:
					r.st, r.id = st, st.ServerID
				}
			}(&next[i])
		}
		wg.Wait()
		rows = append(rows, next...)
		next = nil
		answered := answeredIDs(rows)
		for _, m := range knownMembers(rows) {
			if answered[m.ID] {
				continue
			}
			addr := memberClientAddr(m)
			if addr == "" || asked[addr] {
				continue
			}
			asked[addr] = true
			next = append(next, peerRow{addr: addr, id: m.ID})
		}
	}
	// Members nobody could ask: no client address known, or only one that
	// failed under another id's name.
	have := map[uint32]bool{}
	for _, r := range rows {
		if r.id != 0 {
			have[r.id] = true
		}
	}
	for _, m := range knownMembers(rows) {
		if have[m.ID] {
			continue
		}
		have[m.ID] = true
		// A seed that did not answer may be this member.
		if addr := memberClientAddr(m); addr != "" {
			if i := slices.IndexFunc(rows, func(r peerRow) bool { return r.addr == addr && r.id == 0 }); i >= 0 {
				rows[i].id = m.ID
				continue
			}
		}
		rows = append(rows, peerRow{id: m.ID, err: fmt.Errorf("client address unknown (peer address %s)", m.PeerAddr)})
	}
	rows = pairUnknown(rows)
	key := func(r peerRow) uint64 {
		if id, ok := r.serverID(); ok {
			return uint64(id)
		}
		return 1 << 32 // unknown ids last
	}
	slices.SortStableFunc(rows, func(a, b peerRow) int {
		return cmp.Or(cmp.Compare(key(a), key(b)), cmp.Compare(a.addr, b.addr))
	})
	return &statusReport{rows: rows}
}

// pairUnknown merges the one seed that did not answer (its server id
// unknown) with the one member nobody has a client address for (gossip
// forgets a dead member's address): most likely the same dead peer, shown
// once. With more of either it cannot tell which is which and leaves them.
func pairUnknown(rows []peerRow) []peerRow {
	seed, member := -1, -1
	for i, r := range rows {
		switch {
		case r.st != nil:
		case r.id == 0 && r.addr != "":
			if seed >= 0 {
				return rows
			}
			seed = i
		case r.id != 0 && r.addr == "":
			if member >= 0 {
				return rows
			}
			member = i
		}
	}
	if seed < 0 || member < 0 {
		return rows
	}
	rows[seed].id = rows[member].id
	return slices.Delete(rows, member, member+1)
}

// answeredIDs returns the server ids that answered.
func answeredIDs(rows []peerRow) map[uint32]bool {
	ids := map[uint32]bool{}
	for _, r := range rows {
		if r.st != nil {
			ids[r.st.ServerID] = true
		}
	}
	return ids
}

// knownMembers returns every member the answers list, by id, preferring an
// entry that has a client address.
func knownMembers(rows []peerRow) []wire.MemberStatus {
	byID := map[uint32]wire.MemberStatus{}
	for _, r := range rows {
		if r.st == nil {
			continue
		}
		for _, m := range r.st.Members {
			if old, ok := byID[m.ID]; !ok || (old.ClientAddr == "" && m.ClientAddr != "") {
				byID[m.ID] = m
			}
		}
	}
	out := make([]wire.MemberStatus, 0, len(byID))
	for _, m := range byID {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b wire.MemberStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// memberClientAddr returns where to reach a member's clients port. A
// member listening on all interfaces (0.0.0.0), or on loopback while its
// peer address is not, is asked at its peer address's host.
func memberClientAddr(m wire.MemberStatus) string {
	if m.ClientAddr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(m.ClientAddr)
	if err != nil {
		return m.ClientAddr
	}
	peerHost, _, err := net.SplitHostPort(m.PeerAddr)
	if err != nil || peerHost == "" {
		return m.ClientAddr
	}
	ip := net.ParseIP(host)
	unspecified := host == "" || (ip != nil && ip.IsUnspecified())
	if unspecified || (isLoopbackHost(host) && !isLoopbackHost(peerHost)) {
		return net.JoinHostPort(peerHost, port)
	}
	return m.ClientAddr
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// digestGroup is the peers at one last zxid whose digests differ.
type digestGroup struct {
	zxid    tree.Zxid
	digests map[uint64][]peerRow // digest -> peers with it
}

// compare groups the answers by last zxid and returns, sorted by zxid,
// the groups of two or more peers, and among them those whose digests
// differ.
func (r *statusReport) compare() (groups [][]peerRow, differ []digestGroup) {
	byZxid := map[tree.Zxid][]peerRow{}
	for _, row := range r.rows {
		if row.st != nil {
			byZxid[row.st.LastZxid] = append(byZxid[row.st.LastZxid], row)
		}
	}
	zxids := make([]tree.Zxid, 0, len(byZxid))
	for z := range byZxid {
		zxids = append(zxids, z)
	}
	slices.Sort(zxids)
	for _, z := range zxids {
		g := byZxid[z]
		groups = append(groups, g)
		d := map[uint64][]peerRow{}
		for _, row := range g {
			d[row.st.Digest] = append(d[row.st.Digest], row)
		}
		if len(d) > 1 {
			differ = append(differ, digestGroup{zxid: z, digests: d})
		}
	}
	return groups, differ
}

// unanswered returns the rows without an answer.
func (r *statusReport) unanswered() []peerRow {
	var out []peerRow
	for _, row := range r.rows {
		if row.st == nil {
			out = append(out, row)
		}
	}
	return out
}

// ok reports whether every peer answered and no digests differ.
func (r *statusReport) ok() bool {
	_, differ := r.compare()
	return len(differ) == 0 && len(r.unanswered()) == 0
}

// serverID returns the row's server id: the one it answered with, else
// the one its member entry gave; false if unknown.
func (row peerRow) serverID() (uint32, bool) {
	if row.st != nil {
		return row.st.ServerID, true
	}
	return row.id, row.id != 0
}

// label names a row in the summary lines: its server id when that is
// unique among the rows, else its address.
func (r *statusReport) label(row peerRow) string {
	if id, ok := row.serverID(); ok {
		n := 0
		for _, o := range r.rows {
			if oid, ok := o.serverID(); ok && oid == id {
				n++
			}
		}
		if n == 1 {
			return strconv.FormatUint(uint64(id), 10)
		}
	}
	if row.addr == "" {
		return "?"
	}
	return row.addr
}

// labels names rows: "peer 1" or "peers 1, 2".
func (r *statusReport) labels(rows []peerRow) string {
	out := make([]string, len(rows))
	for i, row := range rows {
		out[i] = r.label(row)
	}
	if len(out) == 1 {
		return "peer " + out[0]
	}
	return "peers " + strings.Join(out, ", ")
}

// digestHex formats a digest with all 16 hex digits.
func digestHex(d uint64) string { return fmt.Sprintf("0x%016x", d) }

// writeText writes the table and the summary lines.
func (r *statusReport) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tROLE\tLEADER\tEPOCH\tLAST ZXID\tSESSIONS\tZNODES\tDIGEST")
	for _, row := range r.rows {
		id, addr := "?", row.addr
		if n, ok := row.serverID(); ok {
			id = strconv.FormatUint(uint64(n), 10)
		}
		if addr == "" {
			addr = "?"
		}
		if row.st == nil {
			fmt.Fprintf(tw, "%s\t%s\tno answer\t-\t-\t-\t-\t-\t-\n", id, addr)
			continue
		}
		st := row.st
		leader, epoch := "-", "-"
		if st.Leader != 0 {
			leader = strconv.FormatUint(uint64(st.Leader), 10)
		}
		if st.Epoch != 0 {
			epoch = strconv.FormatUint(st.Epoch, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", id, addr, st.Role, leader, epoch,
			st.LastZxid, st.Sessions, st.Nodes, digestHex(st.Digest))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	groups, differ := r.compare()
	switch {
	case len(groups) == 0:
		fmt.Fprintln(w, "Digests: no peer answered.")
	case len(differ) > 0:
		for _, g := range differ {
			digests := make([]uint64, 0, len(g.digests))
			for d := range g.digests {
				digests = append(digests, d)
			}
			slices.Sort(digests)
			parts := make([]string, len(digests))
			for i, d := range digests {
				parts[i] = digestHex(d) + " on " + r.labels(g.digests[d])
			}
			fmt.Fprintf(w, "Digests DIFFER at last zxid %s: %s.\n", g.zxid, strings.Join(parts, "; "))
		}
	default:
		compared := false
		parts := make([]string, len(groups))
		for i, g := range groups {
			parts[i] = r.labels(g) + " at " + g[0].st.LastZxid.String()
			if len(g) > 1 {
				compared = true
			}
		}
		switch {
		case compared:
			fmt.Fprintf(w, "Digests agree among peers at the same last zxid (%s).\n", strings.Join(parts, "; "))
		case len(groups) == 1:
			fmt.Fprintf(w, "Digests: one peer answered (%s), nothing to compare.\n", parts[0])
		default:
			fmt.Fprintf(w, "Digests: no two peers at the same last zxid (%s); run again to compare.\n", strings.Join(parts, "; "))
		}
	}
	if missing := r.unanswered(); len(missing) > 0 {
		parts := make([]string, len(missing))
		for i, row := range missing {
			name := row.addr
			switch {
			case name == "":
				name = "server " + strconv.FormatUint(uint64(row.id), 10)
			case row.id != 0:
				name = fmt.Sprintf("%s (server %d)", name, row.id)
			}
			parts[i] = name + ": " + row.err.Error()
		}
		fmt.Fprintf(w, "No answer from %s.\n", strings.Join(parts, "; "))
	} else if len(r.rows) == 1 {
		fmt.Fprintln(w, "The peer answered.")
	} else {
		fmt.Fprintf(w, "All %d peers answered.\n", len(r.rows))
	}
	return nil
}

// statusJSON is the --json output of `zabkit status`.
type statusJSON struct {
	Peers      []peerJSON       `json:"peers"`
	Agree      bool             `json:"agree"`
	Differ     []differJSON     `json:"differ"`
	Unanswered []unansweredJSON `json:"unanswered"`
}

// peerJSON is one peer's row: the status fields when it answered, Error
// when it did not.
type peerJSON struct {
	ID      *uint32 `json:"id,omitempty"` // absent when unknown
	Address string  `json:"address,omitempty"`
	Error   string  `json:"error,omitempty"`
	*PeerStatusJSON
}

// PeerStatusJSON is what a peer answered (exported only so that
// encoding/json can fill the embedded pointer when tests decode it).
type PeerStatusJSON struct {
	Role          string       `json:"role"`
	Leader        uint32       `json:"leader"`
	Epoch         uint64       `json:"epoch"`
	AcceptedEpoch uint64       `json:"acceptedEpoch"`
	CurrentEpoch  uint64       `json:"currentEpoch"`
	LastZxid      int64        `json:"lastZxid"`
	LogZxid       int64        `json:"logZxid"`
	Committed     int64        `json:"committed"`
	Sessions      int          `json:"sessions"`
	Znodes        int          `json:"znodes"`
	Watches       int          `json:"watches"`
	Connections   int          `json:"connections"`
	Digest        string       `json:"digest"`
	Members       []memberJSON `json:"members,omitempty"`
}

// memberJSON is one member as a peer sees it.
type memberJSON struct {
	ID         uint32 `json:"id"`
	Observer   bool   `json:"observer"`
	PeerAddr   string `json:"peerAddr"`
	ClientAddr string `json:"clientAddr,omitempty"`
	Connected  bool   `json:"connected"`
}

// differJSON is one last zxid at which digests differ: digest -> the ids
// (or addresses) of the peers that have it.
type differJSON struct {
	LastZxid int64               `json:"lastZxid"`
	Digests  map[string][]string `json:"digests"`
}

// unansweredJSON is a server that did not answer.
type unansweredJSON struct {
	ID      *uint32 `json:"id,omitempty"`
	Address string  `json:"address,omitempty"`
	Error   string  `json:"error"`
}

// json returns the report as --json prints it.
func (r *statusReport) json() statusJSON {
	out := statusJSON{Peers: []peerJSON{}, Differ: []differJSON{}, Unanswered: []unansweredJSON{}}
	for _, row := range r.rows {
		var idp *uint32
		if id, ok := row.serverID(); ok {
			idp = &id
		}
		p := peerJSON{ID: idp, Address: row.addr}
		if row.st == nil {
			p.Error = row.err.Error()
			out.Unanswered = append(out.Unanswered, unansweredJSON{ID: idp, Address: row.addr, Error: p.Error})
			out.Peers = append(out.Peers, p)
			continue
		}
		st := row.st
		ps := &PeerStatusJSON{
			Role: st.Role, Leader: st.Leader, Epoch: st.Epoch,
			AcceptedEpoch: st.AcceptedEpoch, CurrentEpoch: st.CurrentEpoch,
			LastZxid: int64(st.LastZxid), LogZxid: int64(st.LogZxid), Committed: int64(st.Committed),
			Sessions: st.Sessions, Znodes: st.Nodes, Watches: st.Watches, Connections: st.Connections,
			Digest: digestHex(st.Digest),
		}
		for _, m := range st.Members {
			ps.Members = append(ps.Members, memberJSON{ID: m.ID, Observer: m.Observer, PeerAddr: m.PeerAddr,
				ClientAddr: m.ClientAddr, Connected: m.Connected})
		}
		p.PeerStatusJSON = ps
		out.Peers = append(out.Peers, p)
	}
	_, differ := r.compare()
	for _, g := range differ {
		d := differJSON{LastZxid: int64(g.zxid), Digests: map[string][]string{}}
		for digest, rows := range g.digests {
			for _, row := range rows {
				d.Digests[digestHex(digest)] = append(d.Digests[digestHex(digest)], r.label(row))
			}
		}
		out.Differ = append(out.Differ, d)
	}
	out.Agree = len(differ) == 0
	return out
}
