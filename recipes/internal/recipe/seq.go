package recipe

import (
	"sort"
	"strconv"
)

// seqDigits is the width of the sequence suffix the server appends.
const seqDigits = 10

// Seq returns the sequence number a sequential node's name ends with and
// true, or 0 and false if name does not end with 10 digits.
func Seq(name string) (int64, bool) {
	if len(name) < seqDigits {
		return 0, false
	}
	n, err := strconv.ParseInt(name[len(name)-seqDigits:], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// Prefix returns name without its sequence suffix and without a protected
// "_c_<guid>-" prefix: the recipe's own name for the node ("lock-",
// "read-", ...).
func Prefix(name string) string {
	if len(name) >= seqDigits {
		name = name[:len(name)-seqDigits]
	}
	return StripProtected(name)
}

// SortBySeq sorts sequential node names by their sequence numbers (names
// without one go last, by name) and returns them.
func SortBySeq(names []string) []string {
	sort.SliceStable(names, func(i, j int) bool {
		a, aok := Seq(names[i])
		b, bok := Seq(names[j])
		switch {
		case aok && bok:
			if a != b {
				return a < b
			}
			return names[i] < names[j]
		case aok != bok:
			return aok
		default:
			return names[i] < names[j]
		}
	})
	return names
}
