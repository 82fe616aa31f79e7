package application

import (
	"context"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

// CompleteAppointment records that an appointment took place.
type CompleteAppointment struct {
	SiteID         domain.SiteID
	ID             domain.ID
	IfVersion      *int64 // optional, as RescheduleAppointment.IfVersion
	IdempotencyKey string // optional; see Idempotency
}

// CompleteAppointmentHandler handles CompleteAppointment.
type CompleteAppointmentHandler struct{ r *runner }

// Handle completes a scheduled appointment that has started and queues
// (report appointment_completed). Errors: ErrNotFound,
// *domain.TransitionNotAllowedError, *domain.ValidationError before the start.
func (h CompleteAppointmentHandler) Handle(ctx context.Context, cmd CompleteAppointment) (AppointmentView, error) {
	return h.r.changeAppointment(ctx, "complete appointment", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(a *appointment.Appointment, now time.Time) error { return a.Complete(now) })
}
