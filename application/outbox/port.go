package outbox

import (
	"context"
	"time"
)

// Outbox is the port the relay and operators use to read and settle queued
// Wix calls. Every store adapter that enqueues calls provides it; the
// contract suite application/outboxtest proves each one.
//
// Order and fencing: the calls of one ordering key are claimed one at a
// time, in Seq order, and a claimed call carries a Lease. A relay sends a
// call only while its lease outlives the request, renews the leases of the
// calls it holds, and settles them with the lease's token; a settle or
// renewal with a token that is no longer the call's changes nothing but
// history. A key whose claimed call left pending while in flight (an
// operator discarded it, a newer call superseded it) offers its next call
// only once that lease ended: by a settle with its token, or by expiring.
type Outbox interface {
	// Claim leases at most req.Limit head calls that are due at req.Now:
	// for each ordering key its pending call with the lowest Seq, when its
	// NextAttemptAt is not after now and the key holds no live lease. The
	// calls come back by Seq, each with its Lease. An adapter with one
	// active relay per store returns a *StandbyError while another relay
	// holds the store.
	Claim(ctx context.Context, req ClaimRequest) ([]Call, error)
	// Renew extends the leases of calls the relay holds to now+lease. It
	// returns one Lease per call, in order: the zero Lease for a call whose
	// lease was lost (it must not be sent), or ErrLeaseLost when all were.
	Renew(ctx context.Context, relay string, held []Call, now time.Time, lease time.Duration) ([]Lease, error)
	// Settle records the outcomes of claimed calls, all in one write. An
	// outcome applies to a pending call whose lease its Token still is
	// (see Settled); otherwise it is history only. An unknown call is
	// ErrNotFound.
	Settle(ctx context.Context, outcomes []Outcome) error
	// NextDue returns the earliest time a head may be claimed, so that the
	// relay can sleep until then. ok is false when nothing is pending.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)
	// Resign ends the store's relay lease when relay holds it, so that a
	// relay standing by (*StandbyError) takes over at once instead of when
	// the lease would have run out: a restart or a deploy does not hold
	// deliveries up for a lease. A relay calls it when it stops, after every
	// call it held was settled or handed back (an abandoned request's keys
	// were held for LeaseMargin first, see relay), so ending the lease frees
	// nothing that a lease running out would not. A relay that no longer
	// holds the lease changes nothing; adapters whose relays share the work
	// have no store lease and do nothing.
	Resign(ctx context.Context, relay string) error

	// List returns calls matching f, by Seq. Order holds within an ordering
	// key; across keys, a call committed later may have a lower Seq in
	// stores that draw Seq before commit (see each adapter).
	List(ctx context.Context, f Filter) ([]Call, error)
	// Get returns one call of a site with its history, or ErrNotFound.
	Get(ctx context.Context, siteID, id string) (Detail, error)
	// Retry puts a dead or expired call of a site back to pending, due at
	// now, at the tail of its ordering key (a new Seq). A superseded call
	// is refused with a *SupersededError; any other state with a
	// *StateError (CheckRetry).
	Retry(ctx context.Context, siteID, id string, now time.Time) error
	// Discard gives up a pending, dead or expired call of a site: it is
	// never sent. Any other state is a *StateError (CheckDiscard).
	Discard(ctx context.Context, siteID, id string, now time.Time) error
	// Stats counts calls by state (every state present), for one site or,
	// with siteID "", all.
	Stats(ctx context.Context, siteID string) (map[State]int, error)
	// Prune deletes delivered, discarded and superseded calls settled
	// before cutoff and returns how many it deleted. What the deleted calls
	// make lifecycle believe is live at Wix is kept (Belief.Compact).
	Prune(ctx context.Context, before time.Time) (int, error)
}

// ClaimRequest is what a relay asks of Claim.
type ClaimRequest struct {
	Relay string        // the relay's identity, unique per running relay
	Now   time.Time     // the relay's clock
	Limit int           // at most this many calls
	Lease time.Duration // how long the calls are held for the relay
}

// Filter selects calls for List.
type Filter struct {
	SiteID string // "" means every site (operators only)
	State  State  // "" means every state
	After  int64  // only calls with Seq > After (paging)
	Limit  int    // at most this many; 0 means 100
}

// Outcome is what happened to one claimed call.
type Outcome struct {
	ID string
	// Seq is the call's Seq when it was claimed, or 0. It is a hint: a
	// store may find the call by it, but the outcome is for the call ID
	// names.
	Seq int64
	// Token is the lease token the call was claimed with.
	Token int64
	State State // delivered, pending (retry later), dead or expired
	// NextAttemptAt is when a call left pending is due again.
	NextAttemptAt time.Time
	// Attempted is true when a request was sent (it counts in Attempts);
	// false for calls expired or handed back without sending.
	Attempted bool
	Err       *CallError // the failure, for pending, dead and expired
	At        time.Time  // when the outcome was decided
}

// Histories is the read side of the outbox that reconcile needs, inside the
// store's transaction so that it agrees with the aggregates it reads.
type Histories interface {
	// Beliefs returns what lifecycle believes is live at Wix for every pair
	// of the site whose entity is in entityIDs and that has a call stored or
	// a compacted record, in any order.
	Beliefs(ctx context.Context, siteID string, entityIDs []string) ([]Belief, error)
}
