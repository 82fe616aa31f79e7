package memory

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// The memory outbox keeps every call in calls, the calls of each ordering
// key in keys (by Seq), the pending ones in pending (the head first), and the
// lease of each key that a relay holds in leases. Leases are per key, not
// per call: a key whose claimed call left pending while in flight (discarded,
// superseded) stays leased until that lease is settled or expires, so its
// next call cannot start beside it. Every rule of a call's life comes from
// application/outbox; this file stores.

// keyLease is a relay's hold on an ordering key.
type keyLease struct {
	token  int64
	until  time.Time
	callID string // the call it was claimed for
}

// enqueueLocked adds committed calls, in order, and supersedes the older
// calls of their pairs. The caller holds s.mu.
func (s *Store) enqueueLocked(calls []application.Call) {
	for _, c := range calls {
		s.seq++
		c.Seq = s.seq
		r := &record{call: c}
		s.calls[c.ID] = r
		s.supersedeLocked(r)
		s.keys[c.OrderingKey] = append(s.keys[c.OrderingKey], r)
		s.pending[c.OrderingKey] = append(s.pending[c.OrderingKey], r)
	}
}

// supersedeLocked supersedes the calls of r's pair that r, newer, makes
// obsolete (outbox.Supersedes).
func (s *Store) supersedeLocked(r *record) {
	for _, old := range s.keys[r.call.OrderingKey] {
		o := &old.call
		if o.ID == r.call.ID || o.TriggerKey != r.call.TriggerKey || o.Seq > r.call.Seq ||
			!outbox.Supersedes(o.State, o.Kind, r.call.Kind) {
			continue
		}
		if o.State == outbox.StatePending {
			s.unqueue(old)
			o.MaybeSent = s.leases[o.OrderingKey].callID == o.ID
		}
		o.State, o.SupersededBy, o.SettledAt = outbox.StateSuperseded, r.call.ID, r.call.CreatedAt
		old.history = append(old.history, outbox.Attempt{At: r.call.CreatedAt, State: outbox.StateSuperseded,
			Err: &outbox.CallError{Message: "superseded by call " + r.call.ID}})
	}
}

// newerOf returns the first call of r's pair committed after it, or nil.
func (s *Store) newerOf(r *record) *record {
	var best *record
	for _, x := range s.keys[r.call.OrderingKey] {
		if x.call.TriggerKey == r.call.TriggerKey && x.call.Seq > r.call.Seq && (best == nil || x.call.Seq < best.call.Seq) {
			best = x
		}
	}
	return best
}

// Claim leases the due heads of ordering keys. See outbox.Outbox.
func (s *Store) Claim(ctx context.Context, req outbox.ClaimRequest) ([]application.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.Limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var heads []*record
	for k, q := range s.pending {
		h := q[0]
		if h.call.NextAttemptAt.After(req.Now) || s.leases[k].until.After(req.Now) {
			continue
		}
		heads = append(heads, h)
	}
	sort.Slice(heads, func(i, j int) bool { return heads[i].call.Seq < heads[j].call.Seq })
	if len(heads) > req.Limit {
		heads = heads[:req.Limit]
	}
	s.token++
	l := outbox.Lease{Token: s.token, Until: req.Now.Add(req.Lease)}
	out := make([]application.Call, len(heads))
	for i, h := range heads {
		s.leases[h.call.OrderingKey] = keyLease{token: l.Token, until: l.Until, callID: h.call.ID}
		out[i] = copyCall(h.call)
		out[i].Lease = l
	}
	return out, nil
}

// Renew extends the leases of held calls that are still theirs and pending.
func (s *Store) Renew(ctx context.Context, relay string, held []application.Call, now time.Time, d time.Duration) ([]outbox.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]outbox.Lease, len(held))
	for i, c := range held {
		l, ok := s.leases[c.OrderingKey]
		r := s.calls[c.ID]
		if !ok || l.token != c.Lease.Token || l.callID != c.ID || r == nil || r.call.State != outbox.StatePending {
			continue
		}
		l.until = now.Add(d)
		s.leases[c.OrderingKey] = l
		out[i] = outbox.Lease{Token: l.token, Until: l.until}
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

// Settle records delivery outcomes. See outbox.Outbox.
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
		if _, ok := outbox.OutcomeEvent(o.State); !ok {
			return fmt.Errorf("settle %s: outcome state %q is not allowed", o.ID, o.State)
		}
	}
	for _, o := range outcomes {
		s.settleLocked(o)
	}
	return nil
}

func (s *Store) settleLocked(o application.Outcome) {
	r := s.calls[o.ID]
	key := r.call.OrderingKey
	if o.Attempted {
		r.call.Attempts++
	}
	entry := outbox.Attempt{At: o.At, State: o.State, Err: copyErr(o.Err)}
	l, ok := s.leases[key]
	fenced := ok && l.token == o.Token && l.callID == o.ID
	if fenced {
		delete(s.leases, key)
	}
	to, applies, err := outbox.Settled(r.call.State, o.State, s.newerOf(r) != nil)
	if !fenced || err != nil || !applies {
		entry.Note = outbox.NotApplied(r.call.State)
		r.history = append(r.history, entry)
		return
	}
	r.history = append(r.history, entry)
	if entry.Err != nil {
		r.call.LastError = entry.Err
	}
	r.call.State = to
	switch to {
	case outbox.StatePending:
		r.call.NextAttemptAt = o.NextAttemptAt
		return
	case outbox.StateSuperseded:
		r.call.SupersededBy = s.newerOf(r).call.ID
		r.history = append(r.history, outbox.Attempt{At: o.At, State: to,
			Err: &outbox.CallError{Message: "superseded by call " + r.call.SupersededBy}})
	}
	r.call.SettledAt = o.At
	s.unqueue(r)
}

func copyErr(e *outbox.CallError) *outbox.CallError {
	if e == nil {
		return nil
	}
	cp := *e
	return &cp
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

// Resign implements outbox.Outbox. Relays on a memory store share the work:
// there is no store lease to end.
func (s *Store) Resign(ctx context.Context, relay string) error { return ctx.Err() }

// NextDue returns the earliest time a head may be claimed.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next time.Time
	found := false
	for k, q := range s.pending {
		at := q[0].call.NextAttemptAt
		if l := s.leases[k].until; l.After(at) {
			at = l
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
	if err := outbox.CheckRetry(r.call); err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	s.seq++
	r.call.Seq = s.seq
	r.call.State = outbox.StatePending
	r.call.NextAttemptAt = now
	r.call.SettledAt = time.Time{}
	r.history = append(r.history, outbox.Attempt{At: now, State: outbox.StatePending, Note: "retried by an operator"})
	s.supersedeLocked(r)
	s.pending[r.call.OrderingKey] = append(s.pending[r.call.OrderingKey], r)
	return nil
}

// Discard gives up a pending, dead or expired call. A key leased for it
// stays leased until the lease is settled or expires.
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
	if err := outbox.CheckDiscard(r.call); err != nil {
		return fmt.Errorf("discard: %w", err)
	}
	if r.call.State == outbox.StatePending {
		s.unqueue(r)
		r.call.MaybeSent = s.leases[r.call.OrderingKey].callID == r.call.ID
	}
	r.call.State = outbox.StateDiscarded
	r.call.SettledAt = now
	r.history = append(r.history, outbox.Attempt{At: now, State: outbox.StateDiscarded, Note: "discarded by an operator"})
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
	for _, st := range outbox.States() {
		out[st] = 0
	}
	for _, r := range s.calls {
		if siteID == "" || r.call.SiteID == siteID {
			out[r.call.State]++
		}
	}
	return out, nil
}

// Prune deletes delivered, discarded and superseded calls settled before
// cutoff, folding what they say of Wix into the compacted beliefs.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []*record
	for _, r := range s.calls {
		if outbox.Prunable(r.call.State) && r.call.SettledAt.Before(before) {
			gone = append(gone, r)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].call.Seq < gone[j].call.Seq })
	for _, r := range gone {
		p := r.call.Pair()
		b := s.compacted[p]
		b.Pair = p
		b.Fold(r.call)
		s.compacted[p] = b.Compact()
		delete(s.calls, r.call.ID)
		s.dropFromKey(r)
	}
	return len(gone), nil
}

func (s *Store) dropFromKey(r *record) {
	q := s.keys[r.call.OrderingKey]
	for i, x := range q {
		if x == r {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(s.keys, r.call.OrderingKey)
		return
	}
	s.keys[r.call.OrderingKey] = q
}

// beliefs folds the calls and compacted records of entities on a site. The
// caller holds s.mu.
func (s *Store) beliefs(siteID string, entityIDs []string) []outbox.Belief {
	var compacted []outbox.Belief
	var calls []outbox.Call
	want := map[string]bool{}
	for _, e := range entityIDs {
		want[e] = true
		for _, r := range s.keys[outbox.OrderingKey(siteID, e)] {
			calls = append(calls, copyCall(r.call))
		}
	}
	for p, b := range s.compacted {
		if p.SiteID == siteID && want[p.ExternalEntityID] {
			compacted = append(compacted, b)
		}
	}
	return outbox.FoldBeliefs(compacted, calls)
}
