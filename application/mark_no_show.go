package application

import (
	"context"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

// MarkNoShow records that the contact did not come to an appointment.
type MarkNoShow struct {
	SiteID         domain.SiteID
	ID             domain.ID
	IfVersion      *int64 // optional, as RescheduleAppointment.IfVersion
	IdempotencyKey string // optional; see Idempotency
}

// MarkNoShowHandler handles MarkNoShow.
type MarkNoShowHandler struct{ r *runner }

// Handle marks a started, scheduled appointment as a no-show and queues
// (report appointment_no_show), so a no-show can get other follow-ups than
// an attended appointment. Errors: ErrNotFound,
// *domain.TransitionNotAllowedError, *domain.ValidationError before the start.
func (h MarkNoShowHandler) Handle(ctx context.Context, cmd MarkNoShow) (AppointmentView, error) {
	return h.r.changeAppointment(ctx, "mark no-show", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(a *appointment.Appointment, now time.Time) error { return a.MarkNoShow(now) })
}
