// Package application is lifecycle's use-case layer: one handler per
// command, the trigger catalog, the policy that turns domain events into Wix
// calls, the outbox relay, and the ports (Store, Outbox, Gateway, Clock, IDs)
// that adapters implement. It does no I/O of its own.
//
// A command handler loads aggregates, applies the command, and saves the
// aggregates together with the calls the policy derives from their events,
// in one Store.Update: the state change and its calls commit together or not
// at all. No Wix call is made inside a command; the Relay delivers them.
package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Config wires an App.
type Config struct {
	Store Store // required
	// Outbox is what RetryCall retries calls on; nil means the Store, when
	// it is one (every store adapter is).
	Outbox  Outbox
	Catalog *Catalog // nil means DefaultCatalog()
	Clock   Clock    // nil means SystemClock
	IDs     IDs      // nil means UUIDv7
	// Wake, when set, is notified after every commit that enqueued calls, so
	// that a relay in the same process delivers them at once.
	Wake *Signal
	// Observe, when set, is called after every committed command, with what
	// it recorded and enqueued. It must be quick; it runs on the caller's
	// goroutine. The demo prints its timeline from it.
	Observe func(Committed)
	// MaxAttempts bounds how often a command is tried when it meets a
	// version conflict (another command changed the same aggregate first).
	// Zero means 5.
	MaxAttempts int
}

// Committed describes one committed command.
type Committed struct {
	Command string // e.g. "cancel appointment"
	SiteID  domain.SiteID
	At      time.Time
	Events  []domain.Event
	Calls   []Call
}

// App holds every command and query handler: the whole API of lifecycle in
// one place.
type App struct {
	ScheduleAppointment   ScheduleAppointmentHandler
	RescheduleAppointment RescheduleAppointmentHandler
	RenameAppointment     RenameAppointmentHandler
	CancelAppointment     CancelAppointmentHandler
	CompleteAppointment   CompleteAppointmentHandler
	MarkNoShow            MarkNoShowHandler
	ScheduleClass         ScheduleClassHandler
	RescheduleClass       RescheduleClassHandler
	CancelClass           CancelClassHandler
	CompleteClass         CompleteClassHandler
	Enroll                EnrollHandler
	Leave                 LeaveHandler

	ScheduleCourse          ScheduleCourseHandler
	AddCourseSession        AddCourseSessionHandler
	RescheduleCourseSession RescheduleCourseSessionHandler
	CancelCourseSession     CancelCourseSessionHandler
	CancelCourse            CancelCourseHandler
	CompleteCourse          CompleteCourseHandler
	EnrollInCourse          EnrollInCourseHandler
	LeaveCourse             LeaveCourseHandler

	ScheduleSeries       ScheduleSeriesHandler
	CancelSeries         CancelSeriesHandler
	RescheduleOccurrence RescheduleOccurrenceHandler

	SetTimeZone SetTimeZoneHandler

	Reconcile      ReconcileHandler
	RefreshPayload RefreshPayloadHandler
	RetryCall      RetryCallHandler

	GetAppointment      GetAppointmentHandler
	GetClass            GetClassHandler
	GetEnrollment       GetEnrollmentHandler
	GetCourse           GetCourseHandler
	GetCourseEnrollment GetCourseEnrollmentHandler
	GetSeries           GetSeriesHandler
	GetSiteSettings     GetSiteSettingsHandler

	policy *Policy
	r      *runner // for Ready and Remember (ready.go, idempotency.go)
}

// New returns an App, or an error when cfg lacks a Store.
func New(cfg Config) (*App, error) {
	if cfg.Store == nil {
		return nil, errors.New("application: Config.Store is required")
	}
	if cfg.Catalog == nil {
		cfg.Catalog = DefaultCatalog()
	}
	if cfg.Outbox == nil {
		cfg.Outbox, _ = cfg.Store.(Outbox)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.IDs == nil {
		cfg.IDs = UUIDv7{}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	r := &runner{cfg: cfg, policy: NewPolicy(cfg.Catalog)}
	return &App{
		ScheduleAppointment:   ScheduleAppointmentHandler{r},
		RescheduleAppointment: RescheduleAppointmentHandler{r},
		RenameAppointment:     RenameAppointmentHandler{r},
		CancelAppointment:     CancelAppointmentHandler{r},
		CompleteAppointment:   CompleteAppointmentHandler{r},
		MarkNoShow:            MarkNoShowHandler{r},
		ScheduleClass:         ScheduleClassHandler{r},
		RescheduleClass:       RescheduleClassHandler{r},
		CancelClass:           CancelClassHandler{r},
		CompleteClass:         CompleteClassHandler{r},
		Enroll:                EnrollHandler{r},
		Leave:                 LeaveHandler{r},

		ScheduleCourse:          ScheduleCourseHandler{r},
		AddCourseSession:        AddCourseSessionHandler{r},
		RescheduleCourseSession: RescheduleCourseSessionHandler{r},
		CancelCourseSession:     CancelCourseSessionHandler{r},
		CancelCourse:            CancelCourseHandler{r},
		CompleteCourse:          CompleteCourseHandler{r},
		EnrollInCourse:          EnrollInCourseHandler{r},
		LeaveCourse:             LeaveCourseHandler{r},
		ScheduleSeries:          ScheduleSeriesHandler{r},
		CancelSeries:            CancelSeriesHandler{r},
		RescheduleOccurrence:    RescheduleOccurrenceHandler{r},
		SetTimeZone:             SetTimeZoneHandler{r},

		Reconcile:           ReconcileHandler{r},
		RefreshPayload:      RefreshPayloadHandler{r},
		RetryCall:           RetryCallHandler{r},
		GetAppointment:      GetAppointmentHandler{r},
		GetClass:            GetClassHandler{r},
		GetEnrollment:       GetEnrollmentHandler{r},
		GetCourse:           GetCourseHandler{r},
		GetCourseEnrollment: GetCourseEnrollmentHandler{r},
		GetSeries:           GetSeriesHandler{r},
		GetSiteSettings:     GetSiteSettingsHandler{r},
		policy:              r.policy,
		r:                   r,
	}, nil
}

// Catalog returns the trigger catalog the App's policy follows.
func (a *App) Catalog() *Catalog { return a.policy.catalog }

// runner is what every handler shares: the unit of work with retries, the
// policy and the wake-up.
type runner struct {
	cfg    Config
	policy *Policy
}

// change is the body of a command: it loads and changes aggregates in tx at
// time now and returns the events they recorded, in the order they
// happened. It runs again from scratch on a version conflict, so it must
// only touch tx.
type change func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error)

// run executes one command: the change and the calls it implies at Wix (the
// policy's difference of the desired state of every aggregate it touched),
// in one transaction, retried on version conflicts.
func (r *runner) run(ctx context.Context, command string, siteID domain.SiteID, fn change) error {
	var (
		committed Committed
		err       error
	)
	for attempt := 1; ; attempt++ {
		err = r.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
			now := r.cfg.Clock.Now().UTC()
			track := newTrackTx(tx)
			events, err := fn(ctx, track, now)
			if err != nil {
				return err
			}
			changes, err := track.changes(ctx, r.policy.catalog, siteID)
			if err != nil {
				return err
			}
			calls := r.policy.Calls(changes, r.cfg.IDs, now)
			if len(calls) > 0 {
				if err := tx.Enqueue(ctx, calls); err != nil {
					return fmt.Errorf("enqueue calls: %w", err)
				}
			}
			committed = Committed{Command: command, SiteID: siteID, At: now, Events: events, Calls: calls}
			return nil
		})
		if err == nil || !errors.Is(err, ErrConflict) || errors.Is(err, ErrIDTaken) || attempt >= r.cfg.MaxAttempts || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", command, err)
	}
	if len(committed.Calls) > 0 {
		r.cfg.Wake.Notify()
	}
	if r.cfg.Observe != nil && len(committed.Events) > 0 {
		r.cfg.Observe(committed)
	}
	return nil
}

// view runs a query.
func (r *runner) view(ctx context.Context, fn func(ctx context.Context, tx ReadTx) error) error {
	return r.cfg.Store.View(ctx, fn)
}

// checkRef checks that a command names its site and the aggregate (the ID
// named field), and returns both: IDs are parsed where they enter (see
// domain.ParseID), so only the zero value, "none", is left to refuse.
func checkRef(site domain.SiteID, field string, id domain.ID) (domain.SiteID, domain.ID, error) {
	return site, id, domain.First(site.Require(), id.Require(field))
}

// mint returns a new ID from the injected generator, and an error when the
// generator minted something that is not a UUID.
func (r *runner) mint() (domain.ID, error) {
	s := r.cfg.IDs.NewID()
	id, err := domain.ParseID("id", s)
	if err != nil {
		return domain.ID{}, fmt.Errorf("the IDs generator minted %q: %w", s, err)
	}
	return id, nil
}

// notFound wraps ErrNotFound with what was looked for.
func notFound(err error, what string, id fmt.Stringer) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return err
}
