package wixsim

import (
	"context"
	"sort"
	"time"
)

// lockDue runs every activation due at the clock's time and returns with
// s.mu held, so that the caller sees (and changes) a state in which
// nothing due is left pending. Activations that need a Refresh Payload
// round trip are claimed under the lock and called without it; a due
// activation whose call another goroutine has under way is waited for,
// so that a cancel arriving after an activation's time never overtakes
// its Refresh Payload. When ctx is done, lockDue stops waiting for other
// goroutines' calls and returns (locked) with what it has settled.
//
// It returns the activations it settled as ran, in the order they ran.
func (s *Sim) lockDue(ctx context.Context) []Activation {
	var ran []Activation
	for {
		s.mu.Lock()
		done, claimed, waits := s.dueLocked(s.Now())
		ran = append(ran, done...)
		if len(claimed) == 0 && (len(waits) == 0 || ctx.Err() != nil) {
			sortRan(ran)
			return ran
		}
		s.mu.Unlock()
		for _, c := range claimed {
			res := s.callRefresh(ctx, c.act)
			s.mu.Lock()
			if a, ok := s.settleRefreshLocked(c, res); ok {
				ran = append(ran, a)
			}
			s.mu.Unlock()
		}
		for _, ch := range waits {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
	}
}

// claim is a due activation whose Refresh Payload call the claiming
// goroutine makes, with the channel it closes once the activation settled.
type claim struct {
	act  *Activation
	done chan struct{}
}

// dueLocked settles the pending activations due at now that need no
// Refresh Payload call and returns them as ran; it claims those that do
// need one (in due order) and returns the channels of due activations
// whose call is already under way in another goroutine.
func (s *Sim) dueLocked(now time.Time) (ran []Activation, claimed []claim, waits []chan struct{}) {
	var due []*Activation
	keep := s.pending[:0]
	for _, a := range s.pending {
		switch {
		case a.State != ActivationPending: // canceled meanwhile
		case !a.DueAt.After(now):
			due = append(due, a)
		default:
			keep = append(keep, a)
		}
	}
	clear(s.pending[len(keep):])
	s.pending = keep
	sort.SliceStable(due, func(i, j int) bool { return runsBefore(due[i], due[j]) })
	for _, a := range due {
		if s.needsRefreshLocked(a) {
			ch := make(chan struct{})
			s.inflight[a] = ch
			claimed = append(claimed, claim{act: a, done: ch})
			continue
		}
		a.State, a.SettledAt = ActivationRan, a.DueAt
		a.RanWith = a.Payload
		ran = append(ran, copyActivation(a))
	}
	for a, ch := range s.inflight {
		if !a.DueAt.After(now) && !claimedHere(claimed, a) {
			waits = append(waits, ch)
		}
	}
	return ran, claimed, waits
}

func claimedHere(claimed []claim, a *Activation) bool {
	for _, c := range claimed {
		if c.act == a {
			return true
		}
	}
	return false
}

// needsRefreshLocked reports whether an activation is a delayed one (it
// runs later than its event was reported) of a trigger the trigger
// provider serves, so Wix would call Refresh Payload before running it.
func (s *Sim) needsRefreshLocked(a *Activation) bool {
	return s.provider != nil && a.DueAt.After(a.ReportedAt) && s.provider.serves(a.TriggerKey)
}

// settleRefreshLocked applies a Refresh Payload result to its activation
// and releases the claim. It returns the activation when it ran. An
// activation that is no longer pending (the simulator was reset, or a
// cancel went ahead because its caller stopped waiting) keeps its state.
func (s *Sim) settleRefreshLocked(c claim, res refreshResult) (Activation, bool) {
	defer close(c.done)
	if s.inflight[c.act] == c.done {
		delete(s.inflight, c.act)
	}
	a := c.act
	if a.State != ActivationPending {
		return Activation{}, false
	}
	rec := res.record
	a.Refresh = &rec
	a.SettledAt = a.DueAt
	switch {
	case rec.Answer == AnswerCancel:
		a.State, a.CanceledBy = ActivationCanceled, CanceledByRefreshPayload
	case rec.Answer == AnswerError && s.refresh.onError == FailOnRefreshError:
		a.State = ActivationFailed
	case rec.Answer == AnswerPayload:
		a.State, a.RanWith = ActivationRan, res.payload
	default: // an empty answer, or an error with RunOnRefreshError
		a.State, a.RanWith = ActivationRan, a.Payload
	}
	if a.State != ActivationRan {
		return Activation{}, false
	}
	return copyActivation(a), true
}

func runsBefore(a, b *Activation) bool {
	if !a.DueAt.Equal(b.DueAt) {
		return a.DueAt.Before(b.DueAt)
	}
	return a.ID < b.ID
}

func sortRan(ran []Activation) {
	sort.SliceStable(ran, func(i, j int) bool {
		if !ran[i].DueAt.Equal(ran[j].DueAt) {
			return ran[i].DueAt.Before(ran[j].DueAt)
		}
		return ran[i].ID < ran[j].ID
	})
}
