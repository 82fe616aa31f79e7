package application

import (
	"context"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

// RenameAppointment gives an appointment a new title.
type RenameAppointment struct {
	SiteID         domain.SiteID
	ID             domain.ID
	Title          string
	IfVersion      *int64 // optional, as RescheduleAppointment.IfVersion
	IdempotencyKey string // optional; see Idempotency
}

// RenameAppointmentHandler handles RenameAppointment.
type RenameAppointmentHandler struct{ r *runner }

// Handle renames a scheduled appointment. Its reminder's payload changes, so
// it queues cancel appointment_starting, report appointment_starting with
// the new title (the booking confirmation already happened and is not sent
// again). The same title queues nothing. Errors: ErrNotFound,
// *domain.TransitionNotAllowedError, *domain.ValidationError.
func (h RenameAppointmentHandler) Handle(ctx context.Context, cmd RenameAppointment) (AppointmentView, error) {
	return h.r.changeAppointment(ctx, "rename appointment", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(a *appointment.Appointment, now time.Time) error { return a.Rename(cmd.Title, now) })
}
