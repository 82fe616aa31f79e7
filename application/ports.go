package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// Errors that store adapters return, wrapped or not, and callers test with
// errors.Is.
var (
	// ErrNotFound: no such aggregate or call on this site. Another site's
	// aggregate is not found either: nothing crosses sites.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the aggregate changed since it was loaded (optimistic
	// version check), or an aggregate with the same ID already exists.
	// Handlers retry a command a bounded number of times on a version
	// conflict; nothing is ever overwritten.
	ErrConflict = errors.New("conflict")
	// ErrIDTaken: a create named an ID that already belongs to an aggregate
	// with other details. It is an ErrConflict (errors.Is matches both) that
	// no retry can resolve, so handlers do not retry it.
	ErrIDTaken = fmt.Errorf("id already used with other details: %w", ErrConflict)
)

// Store is the unit of work port. A command runs in one Update: everything
// it saves and every call it enqueues commit together, or nothing does.
//
// The function passed to Update must be free of side effects other than the
// transaction: adapters may run it more than once (the application retries
// on ErrConflict, and an adapter may re-run it itself), and it may run either
// under the write lock or, as the SQLite adapter does under load, on a
// consistent read snapshot whose writes are applied with the optimistic
// version checks afterwards. Either way no update is lost: every write is
// checked against the version that was read.
type Store interface {
	// Update runs fn in a read-write transaction. It commits when fn returns
	// nil and rolls back when fn returns an error, which Update returns.
	// Update returns only once the commit is durable.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// View runs fn on a consistent read-only view.
	View(ctx context.Context, fn func(ctx context.Context, tx ReadTx) error) error
}

// ReadTx reads aggregates of one site. Every method returns ErrNotFound when
// nothing matches on that site.
type ReadTx interface {
	Appointment(ctx context.Context, siteID, id string) (*appointment.Appointment, error)
	Class(ctx context.Context, siteID, id string) (*class.Class, error)
	Enrollment(ctx context.Context, siteID, id string) (*enrollment.Enrollment, error)
	// ActiveEnrollment returns the participant's enrolled or waitlisted
	// enrollment in the class.
	ActiveEnrollment(ctx context.Context, siteID, classID, participantID string) (*enrollment.Enrollment, error)
	// ActiveEnrollments returns the enrolled and waitlisted enrollments of a
	// class, by position (order of admission). It returns an empty slice, not
	// ErrNotFound, when there are none.
	ActiveEnrollments(ctx context.Context, siteID, classID string) ([]*enrollment.Enrollment, error)
	// OldestWaitlisted returns the waitlisted enrollment of a class with the
	// lowest position.
	OldestWaitlisted(ctx context.Context, siteID, classID string) (*enrollment.Enrollment, error)
}

// Tx is a read-write transaction.
type Tx interface {
	ReadTx
	// SaveAppointment inserts a new appointment (Version 0) or updates one
	// whose stored version still equals Version; otherwise it returns
	// ErrConflict. On success it sets the aggregate's version to the one
	// written (Version+1).
	SaveAppointment(ctx context.Context, a *appointment.Appointment) error
	// SaveClass is SaveAppointment for classes.
	SaveClass(ctx context.Context, c *class.Class) error
	// SaveEnrollment is SaveAppointment for enrollments. Saving a second
	// active enrollment for the same participant and class is ErrConflict.
	SaveEnrollment(ctx context.Context, e *enrollment.Enrollment) error
	// Enqueue appends calls to the outbox in the given order. Each call's
	// Seq is assigned by the adapter, increasing in commit order; its State
	// is pending and NextAttemptAt its CreatedAt.
	Enqueue(ctx context.Context, calls []Call) error
	// Idempotency returns the record of a site's idempotency key, or
	// ErrNotFound. It may return a record older than IdempotencyTTL; the
	// caller ignores it.
	Idempotency(ctx context.Context, siteID, key string) (IdempotencyRecord, error)
	// SaveIdempotency stores rec. It first deletes the records of rec's site
	// created before expiredBefore (so an expired record of the same key is
	// replaced). A record of the same site and key that remains is
	// ErrConflict: another transaction with the key committed first, and the
	// command, run again, finds its record.
	SaveIdempotency(ctx context.Context, rec IdempotencyRecord, expiredBefore time.Time) error
}

// Outbox is the port the relay and the operators use to read and settle
// queued Wix calls. Every adapter of Store that enqueues calls provides it.
type Outbox interface {
	// Claim leases at most limit head calls that are due at now: for each
	// ordering key only its pending call with the lowest Seq, and only when
	// its NextAttemptAt is not after now and it holds no unexpired lease. A
	// claimed call is leased until now+lease, so that it is not claimed
	// again while in flight; Settle ends the lease. Claimed calls are
	// returned by Seq.
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Call, error)
	// Settle records the outcome of delivery attempts, all in one write.
	Settle(ctx context.Context, outcomes []Outcome) error
	// NextDue returns the earliest NextAttemptAt of a pending call, so the
	// relay can sleep until then. ok is false when nothing is pending.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)

	// List returns calls matching f, by Seq.
	List(ctx context.Context, f Filter) ([]Call, error)
	// Get returns one call of a site with its attempt history, or ErrNotFound.
	Get(ctx context.Context, siteID, id string) (CallDetail, error)
	// Retry puts a dead or expired call of a site back to pending, due at
	// now, at the tail of its ordering key (it gets a new Seq, so it cannot
	// overtake calls committed after it that were already delivered). Any
	// other state is ErrCallState, and so is retrying a cancel when a report
	// of the same trigger key and entity was enqueued after it: the cancel
	// would remove that newer event.
	Retry(ctx context.Context, siteID, id string, now time.Time) error
	// Discard gives up a pending, dead or expired call of a site: it becomes
	// discarded and is never sent. Any other state is ErrCallState.
	Discard(ctx context.Context, siteID, id string, now time.Time) error
	// Stats counts calls by state, for one site or, with siteID "", all.
	Stats(ctx context.Context, siteID string) (map[CallState]int, error)
	// Prune deletes delivered and discarded calls settled before cutoff,
	// and returns how many it deleted.
	Prune(ctx context.Context, before time.Time) (int, error)
}

// ErrCallState: an outbox operation does not apply to the call's state (for
// example, retrying a delivered call).
var ErrCallState = errors.New("operation not allowed in the call's state")

// Filter selects outbox calls for List.
type Filter struct {
	SiteID string    // "" means every site (operators only)
	State  CallState // zero means every state
	After  int64     // only calls with Seq > After (paging)
	Limit  int       // at most this many; 0 means 100
}

// Outcome is what happened to one claimed call.
type Outcome struct {
	ID string
	// Seq is the call's Seq when it was claimed, or 0. It is a hint: a
	// store may find the call by it, which can be cheaper than by ID, but
	// the outcome is for the call ID names. When that call no longer has
	// this Seq (an operator retried it meanwhile) or Seq names another
	// call, the store finds the call by ID.
	Seq   int64
	State CallState // delivered, pending (retry later), dead or expired
	// NextAttemptAt is when a call left pending is due again.
	NextAttemptAt time.Time
	// Attempted is true when a request was sent (it counts in Attempts);
	// false for calls expired without sending.
	Attempted bool
	Err       *CallError // the failure, for pending, dead and expired
	At        time.Time  // when the outcome was decided
}

// Clock tells the time. Inject one so that tests are deterministic.
type Clock interface {
	Now() time.Time
}

// IDs mints new UUIDs (enrollment IDs, call IDs). Inject one so that tests
// are deterministic.
type IDs interface {
	NewID() string
}
