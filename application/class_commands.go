package application

import (
	"context"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// changeClass is the body of every command on an existing class that
// reaches its active enrollments: load the class and its active
// enrollments, check ifVersion (when set) against the class's version,
// apply do to the class, then each to every enrollment, and
// save all that changed. Events come out class first, then enrollments in
// order of admission.
func (r *runner) changeClass(ctx context.Context, command string, siteID domain.SiteID, id domain.ID, ifVersion *int64, o once,
	do func(c *class.Class, now time.Time) error,
	each func(c *class.Class, e *enrollment.Enrollment, now time.Time) (bool, error)) (ClassView, error) {
	site, id, err := checkRef(siteID, "id", id)
	if err != nil {
		return ClassView{}, err
	}
	var out ClassView
	err = r.runOnce(ctx, command, site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		c, err := tx.Class(ctx, site, id)
		if err != nil {
			return nil, notFound(err, "class", id)
		}
		if err := checkVersion("class", id, ifVersion, c.Version()); err != nil {
			return nil, err
		}
		if err := do(c, now); err != nil {
			return nil, err
		}
		active, err := tx.ActiveEnrollments(ctx, site, id)
		if err != nil {
			return nil, err
		}
		if err := tx.SaveClass(ctx, c); err != nil {
			return nil, err
		}
		events := c.Events()
		for _, e := range active {
			changed, err := each(c, e, now)
			if err != nil {
				return nil, err
			}
			if !changed {
				continue
			}
			if err := tx.SaveEnrollment(ctx, e); err != nil {
				return nil, err
			}
			events = append(events, e.Events()...)
		}
		out = classView(c)
		return events, nil
	})
	return out, err
}

// RescheduleClass moves a class to a new time.
type RescheduleClass struct {
	SiteID           domain.SiteID
	ID               domain.ID
	StartsAt, EndsAt time.Time
	// IfVersion, when set, is the class version the caller last read: the
	// command is refused with a *VersionMismatchError unless it is still
	// current.
	IfVersion      *int64
	IdempotencyKey string // optional; see Idempotency
}

// RescheduleClassHandler handles RescheduleClass.
type RescheduleClassHandler struct{ r *runner }

// Handle moves a scheduled class and, for each seated participant, queues
// (report class_rescheduled), cancel class_starting, report class_starting
// at the new start. Errors: ErrNotFound, *domain.TransitionNotAllowedError,
// *domain.ValidationError.
func (h RescheduleClassHandler) Handle(ctx context.Context, cmd RescheduleClass) (ClassView, error) {
	var previous time.Time
	return h.r.changeClass(ctx, "reschedule class", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(c *class.Class, now time.Time) error {
			previous = c.Start()
			return c.Reschedule(cmd.StartsAt, cmd.EndsAt, now)
		},
		func(c *class.Class, e *enrollment.Enrollment, now time.Time) (bool, error) {
			if e.State() != enrollment.StateEnrolled {
				return false, nil
			}
			return true, e.ClassRescheduled(c, previous, now)
		})
}

// CancelClass cancels a class for everyone in it.
type CancelClass struct {
	SiteID         domain.SiteID
	ID             domain.ID
	Reason         string
	IfVersion      *int64 // optional, as RescheduleClass.IfVersion
	IdempotencyKey string // optional; see Idempotency
}

// CancelClassHandler handles CancelClass.
type CancelClassHandler struct{ r *runner }

// Handle cancels a scheduled class and, for each seated participant, queues
// report class_canceled, cancel participant_enrolled_in_class, cancel
// class_starting, by enrollment ID. Waitlisted participants leave the
// waitlist without calls. Errors: ErrNotFound, *domain.TransitionNotAllowedError.
func (h CancelClassHandler) Handle(ctx context.Context, cmd CancelClass) (ClassView, error) {
	return h.r.changeClass(ctx, "cancel class", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(c *class.Class, now time.Time) error { return c.Cancel(cmd.Reason, now) },
		func(c *class.Class, e *enrollment.Enrollment, now time.Time) (bool, error) {
			return true, e.ClassCanceled(c, cmd.Reason, now)
		})
}

// CompleteClass records that a class took place.
type CompleteClass struct {
	SiteID         domain.SiteID
	ID             domain.ID
	IfVersion      *int64 // optional, as RescheduleClass.IfVersion
	IdempotencyKey string // optional; see Idempotency
}

// CompleteClassHandler handles CompleteClass.
type CompleteClassHandler struct{ r *runner }

// Handle completes a started, scheduled class: seated participants attended
// (queues (report class_completed) each), waitlisted ones leave the
// waitlist. Errors: ErrNotFound, *domain.TransitionNotAllowedError,
// *domain.ValidationError before the start.
func (h CompleteClassHandler) Handle(ctx context.Context, cmd CompleteClass) (ClassView, error) {
	return h.r.changeClass(ctx, "complete class", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(c *class.Class, now time.Time) error { return c.Complete(now) },
		func(c *class.Class, e *enrollment.Enrollment, now time.Time) (bool, error) {
			return true, e.ClassCompleted(c, now)
		})
}
