package application

import (
	"context"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

// RescheduleAppointment moves an appointment to a new time.
type RescheduleAppointment struct {
	SiteID           domain.SiteID
	ID               domain.ID
	StartsAt, EndsAt time.Time
	// IfVersion, when set, is the appointment version the caller last read:
	// the command is refused with a *VersionMismatchError unless it is still
	// current.
	IfVersion      *int64
	IdempotencyKey string // optional; see Idempotency
}

// RescheduleAppointmentHandler handles RescheduleAppointment.
type RescheduleAppointmentHandler struct{ r *runner }

// Handle moves a scheduled appointment and queues (report
// appointment_rescheduled), cancel appointment_starting, report
// appointment_starting at the new start. The cancel goes first, so the new
// reminder is never canceled with the old one. Errors: ErrNotFound, a
// *domain.TransitionNotAllowedError when the appointment is not scheduled, a
// *domain.ValidationError for bad times.
func (h RescheduleAppointmentHandler) Handle(ctx context.Context, cmd RescheduleAppointment) (AppointmentView, error) {
	return h.r.changeAppointment(ctx, "reschedule appointment", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(a *appointment.Appointment, now time.Time) error {
			return a.Reschedule(cmd.StartsAt, cmd.EndsAt, now)
		})
}
