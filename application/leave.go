package application

import (
	"context"
	"errors"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Leave takes a participant out of a class (or its waitlist).
type Leave struct {
	SiteID       domain.SiteID
	EnrollmentID domain.ID
	// IfVersion, when set, is the enrollment version the caller last read:
	// the command is refused with a *VersionMismatchError unless it is still
	// current.
	IfVersion      *int64
	IdempotencyKey string // optional; see Idempotency
}

// LeaveHandler handles Leave.
type LeaveHandler struct{ r *runner }

// Handle ends the enrollment and queues report participant_left_class,
// cancel participant_enrolled_in_class, cancel class_starting by its ID. When
// that frees a seat and someone waits, the oldest waitlisted enrollment is
// promoted in the same transaction and gets its enrollment calls. Leaving
// the waitlist queues nothing. Errors: ErrNotFound,
// *domain.TransitionNotAllowedError.
func (h LeaveHandler) Handle(ctx context.Context, cmd Leave) (EnrollmentView, error) {
	site, id, err := checkRef(cmd.SiteID, "id", cmd.EnrollmentID)
	if err != nil {
		return EnrollmentView{}, err
	}
	var out EnrollmentView
	err = h.r.runOnce(ctx, "leave class", site, once{cmd.IdempotencyKey, cmd}, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		e, err := tx.Enrollment(ctx, site, id)
		if err != nil {
			return nil, notFound(err, "enrollment", id)
		}
		if err := checkVersion("enrollment", id, cmd.IfVersion, e.Version()); err != nil {
			return nil, err
		}
		c, err := tx.Class(ctx, site, e.ClassID())
		if err != nil {
			return nil, notFound(err, "class", e.ClassID())
		}
		freed, err := e.Leave(c, now)
		if err != nil {
			return nil, err
		}
		if err := tx.SaveEnrollment(ctx, e); err != nil {
			return nil, err
		}
		events := e.Events()
		if freed && c.IsOpen(now) {
			next, err := tx.OldestWaitlisted(ctx, site, c.ID())
			switch {
			case err == nil:
				if err := next.Promote(c, now); err != nil {
					return nil, err
				}
				if err := tx.SaveEnrollment(ctx, next); err != nil {
					return nil, err
				}
				events = append(events, next.Events()...)
			case !errors.Is(err, ErrNotFound):
				return nil, err
			}
		}
		if err := tx.SaveClass(ctx, c); err != nil {
			return nil, err
		}
		out = enrollmentView(e)
		return events, nil
	})
	return out, err
}
