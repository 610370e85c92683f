//go:build race

package zabtest

// The race detector slows the simulation about tenfold; run fewer seeds.
const raceEnabled = true
