//go:build race

package sqlite_test

// raceEnabled: the race detector slows the transpiled SQLite engine down by
// an order of magnitude, so the randomized tests run fewer cases under it.
const raceEnabled = true
