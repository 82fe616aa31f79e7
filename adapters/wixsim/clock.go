package wixsim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bookable/lifecycle/application"
)

// ErrClockNotSettable: the simulator's clock cannot be moved (it has no
// Advance or Set method, as the wall clock has not).
var ErrClockNotSettable = errors.New("wixsim: the clock cannot be moved")

// ErrClockBackwards: a clock move would go back in time. The simulator's
// time only moves forward (reset to start over), so what ran stays ran.
var ErrClockBackwards = errors.New("wixsim: the clock cannot move backwards")

// SettableClock is a clock that the simulator (and its control API) can
// move: application/fake.Clock and EmulatorClock are ones.
type SettableClock interface {
	application.Clock
	Advance(d time.Duration) time.Time
	Set(t time.Time)
}

// EmulatorClock is the clock of the simulator run as a process: it follows
// a base clock (the wall clock), shifted by an offset that Advance and Set
// change, so time flows on its own and can still jump ahead; or, frozen,
// it stands still until moved. It is safe for concurrent use.
type EmulatorClock struct {
	mu     sync.Mutex
	base   application.Clock
	offset time.Duration
	frozen bool
	at     time.Time // the time while frozen
}

// NewEmulatorClock returns a clock that follows base (the wall clock when
// nil), starting at start (base's time when zero); frozen, it stands at
// start until moved.
func NewEmulatorClock(base application.Clock, start time.Time, frozen bool) *EmulatorClock {
	if base == nil {
		base = application.SystemClock{}
	}
	c := &EmulatorClock{base: base, frozen: frozen}
	now := base.Now().UTC()
	if start.IsZero() {
		start = now
	}
	c.offset, c.at = start.UTC().Sub(now), start.UTC()
	return c
}

// Now returns the clock's time.
func (c *EmulatorClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *EmulatorClock) nowLocked() time.Time {
	if c.frozen {
		return c.at
	}
	return c.base.Now().UTC().Add(c.offset)
}

// Advance moves the clock forward by d and returns the new time.
func (c *EmulatorClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	c.at = c.at.Add(d)
	return c.nowLocked()
}

// Set moves the clock to t; it keeps flowing from there unless frozen.
func (c *EmulatorClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = t.UTC()
	c.offset = t.UTC().Sub(c.base.Now().UTC())
}

// Frozen reports whether the clock stands still until moved.
func (c *EmulatorClock) Frozen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frozen
}

// Settable reports whether the simulator's clock can be moved (Advance,
// AdvanceContext, SetTime).
func (s *Sim) Settable() bool {
	_, ok := s.clock.(SettableClock)
	return ok
}

// AdvanceContext moves the clock forward by d (d >= 0) and runs what
// became due, Refresh Payload calls included; it returns the activations
// that ran. It fails with ErrClockNotSettable or, for d < 0,
// ErrClockBackwards, and then changes nothing.
func (s *Sim) AdvanceContext(ctx context.Context, d time.Duration) ([]Activation, error) {
	c, ok := s.clock.(interface{ Advance(time.Duration) time.Time })
	if !ok {
		return nil, ErrClockNotSettable
	}
	if d < 0 {
		return nil, fmt.Errorf("%w: advance by %v", ErrClockBackwards, d)
	}
	c.Advance(d)
	return s.RunDueContext(ctx), nil
}

// SetTime moves the clock to t, which must not be before the clock's
// time, and runs what became due, like AdvanceContext.
func (s *Sim) SetTime(ctx context.Context, t time.Time) ([]Activation, error) {
	c, ok := s.clock.(SettableClock)
	if !ok {
		return nil, ErrClockNotSettable
	}
	if now := s.Now(); t.Before(now) {
		return nil, fmt.Errorf("%w: %s is before %s", ErrClockBackwards, t.UTC().Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	c.Set(t)
	return s.RunDueContext(ctx), nil
}
