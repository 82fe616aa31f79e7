package application

import (
	"context"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

// CancelAppointment cancels an appointment.
type CancelAppointment struct {
	SiteID         domain.SiteID
	ID             domain.ID
	Reason         string // optional, passed to the appointment_canceled payload
	IfVersion      *int64 // optional, as RescheduleAppointment.IfVersion
	IdempotencyKey string // optional; see Idempotency
}

// CancelAppointmentHandler handles CancelAppointment.
type CancelAppointmentHandler struct{ r *runner }

// Handle cancels a scheduled appointment and queues report
// appointment_canceled, cancel appointment_scheduled, cancel
// appointment_starting, so that no reminder or follow-up runs for it.
// Errors: ErrNotFound, *domain.TransitionNotAllowedError.
func (h CancelAppointmentHandler) Handle(ctx context.Context, cmd CancelAppointment) (AppointmentView, error) {
	return h.r.changeAppointment(ctx, "cancel appointment", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(a *appointment.Appointment, now time.Time) error { return a.Cancel(cmd.Reason, now) })
}
