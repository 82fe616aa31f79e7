package application

// Signal wakes a waiting goroutine without blocking the one that notifies:
// command handlers notify it after a commit that enqueued calls, and the
// relay waits on it instead of only polling. Notifications coalesce: many
// notifies before a wait wake it once.
type Signal struct{ ch chan struct{} }

// NewSignal returns a ready Signal.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{}, 1)} }

// Notify wakes the waiter, or leaves a wake-up for its next wait.
func (s *Signal) Notify() {
	if s == nil {
		return
	}
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// C is the channel to wait on.
func (s *Signal) C() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.ch
}
