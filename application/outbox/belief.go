package outbox

import (
	"encoding/json"
	"sort"
	"time"
)

// Liveness is how many events of a pair lifecycle believes are live at Wix.
type Liveness int

// The values of Liveness.
const (
	// LiveNone: no report took effect since the last cancel that did.
	LiveNone Liveness = iota
	// LiveOne: exactly one report took effect since then: Belief.Event.
	LiveOne
	// LiveUnsure: more than one report may be live (a cancel between them
	// never took effect), or a report was sent and never confirmed: its
	// attempt failed, but an earlier attempt (a relay that died before
	// recording it, a timeout) may have reached Wix. Only a delivered
	// cancel makes it sure.
	LiveUnsure
)

// String names the liveness for operators.
func (l Liveness) String() string {
	switch l {
	case LiveOne:
		return "one"
	case LiveUnsure:
		return "unsure"
	}
	return "none"
}

// Reported is a report that took (or may have taken) effect at Wix.
type Reported struct {
	CallID      string
	Payload     json.RawMessage
	ScheduledAt time.Time // zero for a real-time event
	At          time.Time // when it was settled
}

// Belief is what lifecycle believes is live at Wix for one pair, from its own
// record of calls: the calls still stored, folded in Seq order onto what
// `outbox prune` compacted of those it deleted. It is what reconcile
// compares with the desired state.
type Belief struct {
	Pair
	Live Liveness
	// Event is the newest report that took, or may have taken, effect; nil
	// when Live is LiveNone.
	Event *Reported
	// Pending is the newest pending call of the pair, or nil. Once it is
	// delivered it decides what Wix shows.
	Pending *Call
	// Seq is the Seq of the newest call folded in.
	Seq int64
}

// Fold applies one call of the pair, the next in Seq order.
func (b *Belief) Fold(c Call) {
	if c.Seq > b.Seq {
		b.Seq = c.Seq
	}
	switch {
	case c.State == StatePending:
		cp := c
		b.Pending = &cp
		return
	case c.State == StateDelivered && c.Kind == KindCancel:
		b.Live, b.Event = LiveNone, nil
	case c.State == StateDelivered:
		if b.Live == LiveNone {
			b.Live = LiveOne
		} else {
			b.Live = LiveUnsure
		}
		b.Event = reported(c)
	case c.Kind == KindReport && (c.Attempts > 0 || c.MaybeSent):
		// Sent, never confirmed: even a refusal may follow an attempt that
		// took effect and was never recorded.
		b.Live, b.Event = LiveUnsure, reported(c)
	}
	if b.Pending != nil && b.Pending.ID == c.ID {
		b.Pending = nil
	}
}

func reported(c Call) *Reported {
	return &Reported{CallID: c.ID, Payload: c.Payload, ScheduledAt: c.ScheduledAt, At: c.SettledAt}
}

// Compact returns the part of the belief that outlives the calls it was
// folded from, for an adapter to keep when `outbox prune` deletes them:
// everything but Pending (prune deletes only settled calls).
func (b Belief) Compact() Belief {
	b.Pending = nil
	return b
}

// FoldBeliefs folds the calls of many pairs, in any order, onto the
// compacted beliefs of those pairs and returns one Belief per pair that has
// either, ordered by pair. It is how adapters answer Histories.Beliefs
// without writing the fold again.
func FoldBeliefs(compacted []Belief, calls []Call) []Belief {
	byPair := map[Pair]*Belief{}
	for _, b := range compacted {
		cp := b.Compact()
		byPair[b.Pair] = &cp
	}
	sorted := append([]Call(nil), calls...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	for _, c := range sorted {
		p := c.Pair()
		b := byPair[p]
		if b == nil {
			b = &Belief{Pair: p}
			byPair[p] = b
		}
		b.Fold(c)
	}
	out := make([]Belief, 0, len(byPair))
	for _, b := range byPair {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pair.String() < out[j].Pair.String() })
	return out
}
