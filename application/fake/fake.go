// Package fake provides the deterministic clock and ID source that tests,
// scenarios and the demo inject in place of the wall clock and random UUIDs.
package fake

import (
	"fmt"
	"sync"
	"time"
)

// Clock is a clock that moves only when told. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t.UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
}

// IDs mints predictable UUIDs: prefix-0000-4000-8000-<12-digit counter>,
// where prefix is 8 hex digits. It is safe for concurrent use.
type IDs struct {
	mu     sync.Mutex
	prefix string
	n      uint64
}

// NewIDs returns an ID source whose UUIDs start with prefix (8 hex digits,
// e.g. "00000000"); an invalid prefix panics, as it is a test bug.
func NewIDs(prefix string) *IDs {
	if len(prefix) != 8 {
		panic("fake.NewIDs: prefix must be 8 hex digits")
	}
	for _, r := range prefix {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			panic("fake.NewIDs: prefix must be 8 lowercase hex digits")
		}
	}
	return &IDs{prefix: prefix}
}

// NewID returns the next UUID.
func (g *IDs) NewID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return fmt.Sprintf("%s-0000-4000-8000-%012d", g.prefix, g.n)
}
