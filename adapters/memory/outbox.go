package memory

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/bookable/lifecycle/application"
)

// Claim leases the due heads of ordering keys. See application.Outbox.
func (s *Store) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]application.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var heads []*record
	for _, q := range s.pending {
		if len(q) == 0 {
			continue
		}
		h := q[0]
		if h.call.NextAttemptAt.After(now) || h.lease.After(now) {
			continue
		}
		heads = append(heads, h)
	}
	sort.Slice(heads, func(i, j int) bool { return heads[i].call.Seq < heads[j].call.Seq })
	if limit > 0 && len(heads) > limit {
		heads = heads[:limit]
	}
	out := make([]application.Call, len(heads))
	for i, h := range heads {
		h.lease = now.Add(lease)
		out[i] = copyCall(h.call)
	}
	return out, nil
}

func copyCall(c application.Call) application.Call {
	c.Payload = append([]byte(nil), c.Payload...)
	if c.LastError != nil {
		e := *c.LastError
		c.LastError = &e
	}
	return c
}

// Settle records delivery outcomes. See application.Outbox.
func (s *Store) Settle(ctx context.Context, outcomes []application.Outcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range outcomes {
		if _, ok := s.calls[o.ID]; !ok {
			return fmt.Errorf("settle %s: %w", o.ID, application.ErrNotFound)
		}
		switch o.State {
		case application.StatePending, application.StateDelivered, application.StateDead, application.StateExpired:
		default:
			return fmt.Errorf("settle %s: outcome state %q is not allowed", o.ID, o.State)
		}
	}
	for _, o := range outcomes {
		r := s.calls[o.ID]
		r.lease = time.Time{}
		if o.Attempted {
			r.call.Attempts++
		}
		var cerr *application.CallError
		if o.Err != nil {
			e := *o.Err
			cerr = &e
		}
		r.history = append(r.history, application.Attempt{At: o.At, State: o.State, Err: cerr})
		if r.call.State != application.StatePending {
			continue // discarded while in flight: the history keeps what happened
		}
		if cerr != nil {
			r.call.LastError = cerr
		}
		r.call.State = o.State
		if o.State == application.StatePending {
			r.call.NextAttemptAt = o.NextAttemptAt
			continue
		}
		r.call.SettledAt = o.At
		s.unqueue(r)
	}
	return nil
}

// unqueue removes a call that left pending from its key's queue.
func (s *Store) unqueue(r *record) {
	q := s.pending[r.call.OrderingKey]
	for i, x := range q {
		if x == r {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(s.pending, r.call.OrderingKey)
		return
	}
	s.pending[r.call.OrderingKey] = q
}

// NextDue returns the earliest next attempt of a pending call.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next time.Time
	found := false
	for _, q := range s.pending {
		if len(q) == 0 {
			continue
		}
		at := q[0].call.NextAttemptAt
		if q[0].lease.After(at) {
			at = q[0].lease
		}
		if !found || at.Before(next) {
			next, found = at, true
		}
	}
	return next, found, nil
}

// List returns calls matching f, by Seq.
func (s *Store) List(ctx context.Context, f application.Filter) ([]application.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []application.Call
	for _, r := range s.calls {
		c := r.call
		if (f.SiteID != "" && c.SiteID != f.SiteID) || (f.State != "" && c.State != f.State) || c.Seq <= f.After {
			continue
		}
		out = append(out, copyCall(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Get returns a call of a site with its history.
func (s *Store) Get(ctx context.Context, siteID, id string) (application.CallDetail, error) {
	if err := ctx.Err(); err != nil {
		return application.CallDetail{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.siteCall(siteID, id)
	if err != nil {
		return application.CallDetail{}, err
	}
	return application.CallDetail{Call: copyCall(r.call), History: append([]application.Attempt(nil), r.history...)}, nil
}

// siteCall returns a call of a site; another site's call is not found.
// The caller holds s.mu.
func (s *Store) siteCall(siteID, id string) (*record, error) {
	r, ok := s.calls[id]
	if !ok || r.call.SiteID != siteID {
		return nil, fmt.Errorf("call %s: %w", id, application.ErrNotFound)
	}
	return r, nil
}

// Retry re-queues a dead or expired call at the tail of its key.
func (s *Store) Retry(ctx context.Context, siteID, id string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.siteCall(siteID, id)
	if err != nil {
		return err
	}
	if r.call.State != application.StateDead && r.call.State != application.StateExpired {
		return fmt.Errorf("retry call %s in state %s: %w", id, r.call.State, application.ErrCallState)
	}
	if r.call.Kind == application.KindCancel {
		for _, other := range s.calls {
			if other.call.OrderingKey == r.call.OrderingKey && other.call.Seq > r.call.Seq &&
				other.call.Kind == application.KindReport && other.call.TriggerKey == r.call.TriggerKey {
				return fmt.Errorf("retry cancel %s: report %s of the same trigger and entity came after it and would be canceled: %w",
					id, other.call.ID, application.ErrCallState)
			}
		}
	}
	s.seq++
	r.call.Seq = s.seq
	r.call.State = application.StatePending
	r.call.NextAttemptAt = now
	r.call.SettledAt = time.Time{}
	r.lease = time.Time{}
	r.history = append(r.history, application.Attempt{At: now, State: application.StatePending,
		Err: &application.CallError{Message: "retried by an operator"}})
	s.pending[r.call.OrderingKey] = append(s.pending[r.call.OrderingKey], r)
	return nil
}

// Discard gives up a pending, dead or expired call.
func (s *Store) Discard(ctx context.Context, siteID, id string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.siteCall(siteID, id)
	if err != nil {
		return err
	}
	switch r.call.State {
	case application.StatePending:
		s.unqueue(r)
	case application.StateDead, application.StateExpired:
	default:
		return fmt.Errorf("discard call %s in state %s: %w", id, r.call.State, application.ErrCallState)
	}
	r.call.State = application.StateDiscarded
	r.call.SettledAt = now
	r.history = append(r.history, application.Attempt{At: now, State: application.StateDiscarded,
		Err: &application.CallError{Message: "discarded by an operator"}})
	return nil
}

// Stats counts calls by state.
func (s *Store) Stats(ctx context.Context, siteID string) (map[application.CallState]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[application.CallState]int{}
	for _, st := range application.CallStates {
		out[st] = 0
	}
	for _, r := range s.calls {
		if siteID == "" || r.call.SiteID == siteID {
			out[r.call.State]++
		}
	}
	return out, nil
}

// Prune deletes delivered and discarded calls settled before cutoff.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.calls {
		if (r.call.State == application.StateDelivered || r.call.State == application.StateDiscarded) && r.call.SettledAt.Before(before) {
			delete(s.calls, id)
			n++
		}
	}
	return n, nil
}
