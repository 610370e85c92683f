//go:build !race

package zabtest

const raceEnabled = false
