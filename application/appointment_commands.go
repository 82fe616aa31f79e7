package application

import (
	"context"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

// changeAppointment is the body of every command on one existing
// appointment: load it, check ifVersion (when set) against its version,
// apply do, save it, and return its events; at most once per idempotency
// key of o.
func (r *runner) changeAppointment(ctx context.Context, command string, siteID domain.SiteID, id domain.ID, ifVersion *int64, o once,
	do func(a *appointment.Appointment, now time.Time) error) (AppointmentView, error) {
	site, id, err := checkRef(siteID, "id", id)
	if err != nil {
		return AppointmentView{}, err
	}
	var out AppointmentView
	err = r.runOnce(ctx, command, site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		a, err := tx.Appointment(ctx, site, id)
		if err != nil {
			return nil, notFound(err, "appointment", id)
		}
		if err := checkVersion("appointment", id, ifVersion, a.Version()); err != nil {
			return nil, err
		}
		if err := do(a, now); err != nil {
			return nil, err
		}
		if err := tx.SaveAppointment(ctx, a); err != nil {
			return nil, err
		}
		out = appointmentView(a)
		return a.Events(), nil
	})
	return out, err
}
