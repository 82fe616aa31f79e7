package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/series"
)

// ScheduleSeries books a recurring appointment for a contact.
type ScheduleSeries struct {
	SiteID         domain.SiteID
	ID             domain.ID // optional: a caller-chosen UUID makes the command idempotent
	IdempotencyKey string    // optional; see Idempotency
	ContactID      domain.ID
	Title          string
	// StartsAt and EndsAt are the first occurrence's; the others keep its
	// wall-clock time in the site's zone.
	StartsAt, EndsAt time.Time
	Every            string // "day" or "week"
	Count            int    // occurrences, 1 to series.MaxOccurrences
}

// ScheduleSeriesHandler handles ScheduleSeries.
type ScheduleSeriesHandler struct{ r *runner }

// Handle creates the series and books each occurrence as an appointment
// (ID series.OccurrenceID), computed in the site's zone: for each it queues
// report appointment_scheduled and report appointment_starting at its
// start, by the occurrence's appointment ID. With an ID that already names
// an identical series it returns it; with an ID used otherwise, an error
// wrapping ErrIDTaken. Invalid input is a *domain.ValidationError.
func (h ScheduleSeriesHandler) Handle(ctx context.Context, cmd ScheduleSeries) (SeriesView, error) {
	o := once{cmd.IdempotencyKey, cmd}
	if cmd.ID.IsZero() {
		var err error
		if cmd.ID, err = h.r.mint(); err != nil {
			return SeriesView{}, err
		}
	}
	site, id, err := checkRef(cmd.SiteID, "id", cmd.ID)
	if err != nil {
		return SeriesView{}, err
	}
	every, err := series.ParseEvery(cmd.Every)
	if err != nil {
		return SeriesView{}, err
	}
	var out SeriesView
	err = h.r.runOnce(ctx, "schedule series", site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		existing, err := tx.Series(ctx, site, id)
		switch {
		case err == nil:
			if !sameSeries(existing, cmd, every) {
				return nil, fmt.Errorf("series %s: %w", id, ErrIDTaken)
			}
			occurrences, err := loadOccurrences(ctx, tx, existing)
			if err != nil {
				return nil, err
			}
			out = seriesView(existing, occurrences)
			return nil, nil
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
		z, err := siteZone(ctx, tx, site)
		if err != nil {
			return nil, err
		}
		s, err := series.Schedule(series.New{ID: id, SiteID: site, ContactID: cmd.ContactID, Title: cmd.Title,
			Start: cmd.StartsAt, End: cmd.EndsAt, Every: every, Count: cmd.Count, Zone: z}, now)
		if err != nil {
			return nil, err
		}
		if err := tx.SaveSeries(ctx, s); err != nil {
			return nil, err
		}
		events := s.Events()
		occurrences := map[int]*appointment.Appointment{}
		for _, occ := range s.Occurrences() {
			a, err := appointment.Schedule(appointment.New{ID: occ.AppointmentID, SiteID: site, ContactID: s.ContactID(),
				Title: s.Title(), Start: occ.Start, End: occ.End}, now)
			if err != nil {
				return nil, err
			}
			if err := tx.SaveAppointment(ctx, a); err != nil {
				return nil, fmt.Errorf("occurrence %d: %w", occ.Number, err)
			}
			occurrences[occ.Number] = a
			events = append(events, a.Events()...)
		}
		out = seriesView(s, occurrences)
		return events, nil
	})
	return out, err
}

func sameSeries(s *series.Series, cmd ScheduleSeries, every series.Every) bool {
	first, ok := s.Occurrence(1)
	return ok && s.ContactID() == cmd.ContactID && s.Title() == cmd.Title && s.Every() == every &&
		s.Count() == cmd.Count && first.Start.Equal(domain.Instant(cmd.StartsAt)) && first.End.Equal(domain.Instant(cmd.EndsAt))
}

// loadOccurrences reads the appointments of s's occurrences, by number.
func loadOccurrences(ctx context.Context, tx ReadTx, s *series.Series) (map[int]*appointment.Appointment, error) {
	out := map[int]*appointment.Appointment{}
	for _, o := range s.Occurrences() {
		a, err := tx.Appointment(ctx, s.SiteID(), o.AppointmentID)
		if err != nil {
			return nil, notFound(err, fmt.Sprintf("occurrence %d of series %s", o.Number, s.ID()), o.AppointmentID)
		}
		out[o.Number] = a
	}
	return out, nil
}

// The scopes of CancelSeries.
const (
	SeriesThis      = "this"      // the one occurrence
	SeriesFollowing = "following" // the occurrence and every later one
	SeriesAll       = "all"       // every occurrence that has not started
)

// CancelSeries cancels one occurrence, an occurrence and the following
// ones, or a whole series.
type CancelSeries struct {
	SiteID     domain.SiteID
	ID         domain.ID
	Scope      string // SeriesThis, SeriesFollowing or SeriesAll
	Occurrence int    // the occurrence's number, for this and following
	Reason     string
	IfVersion  *int64 // optional: the series version the caller last read
	// IdempotencyKey is optional; see Idempotency.
	IdempotencyKey string
}

// CancelSeriesHandler handles CancelSeries.
type CancelSeriesHandler struct{ r *runner }

// Handle cancels what the scope names, as appointment cancels of the
// occurrences: for each, report appointment_canceled, cancel
// appointment_scheduled, cancel appointment_starting, by the occurrence's
// appointment ID, and nothing for any other occurrence. "this" cancels one
// occurrence (as CancelAppointment would), "following" cuts the series
// before the occurrence and cancels it and every later one that is
// scheduled, "all" cancels the series and every scheduled occurrence that
// has not started. Errors: ErrNotFound, *domain.TransitionNotAllowedError,
// *domain.ValidationError (a bad scope, or an occurrence that has started
// for following).
func (h CancelSeriesHandler) Handle(ctx context.Context, cmd CancelSeries) (SeriesView, error) {
	switch cmd.Scope {
	case SeriesThis, SeriesFollowing, SeriesAll:
	default:
		return SeriesView{}, domain.Invalid("scope", `must be "this", "following" or "all"`)
	}
	return h.r.changeSeries(ctx, "cancel series", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(s *series.Series, occ map[int]*appointment.Appointment, now time.Time) ([]*appointment.Appointment, error) {
			var from int
			switch cmd.Scope {
			case SeriesThis:
				a, err := occurrence(s, occ, cmd.Occurrence)
				if err != nil {
					return nil, err
				}
				return []*appointment.Appointment{a}, a.Cancel(cmd.Reason, now)
			case SeriesFollowing:
				a, err := occurrence(s, occ, cmd.Occurrence)
				if err != nil {
					return nil, err
				}
				if !now.Before(a.Start()) {
					return nil, domain.Invalid("occurrence", fmt.Sprintf("occurrence %d has already started", cmd.Occurrence))
				}
				if err := s.CancelFollowing(cmd.Occurrence, cmd.Reason, now); err != nil {
					return nil, err
				}
				from = cmd.Occurrence
			case SeriesAll:
				if err := s.CancelAll(cmd.Reason, now); err != nil {
					return nil, err
				}
				from = 1
			}
			var changed []*appointment.Appointment
			for n := from; n <= s.Count(); n++ {
				a := occ[n]
				if a.State() != appointment.StateScheduled || !now.Before(a.Start()) {
					continue // canceled, done, or it has started: not this cancel's
				}
				if err := a.Cancel(cmd.Reason, now); err != nil {
					return nil, err
				}
				changed = append(changed, a)
			}
			return changed, nil
		})
}

// occurrence returns occurrence n's appointment, or an error wrapping
// ErrNotFound.
func occurrence(s *series.Series, occ map[int]*appointment.Appointment, n int) (*appointment.Appointment, error) {
	a, ok := occ[n]
	if !ok {
		return nil, fmt.Errorf("occurrence %d of series %s: %w", n, s.ID(), ErrNotFound)
	}
	return a, nil
}

// RescheduleOccurrence moves one occurrence of a series.
type RescheduleOccurrence struct {
	SiteID           domain.SiteID
	SeriesID         domain.ID
	Occurrence       int
	StartsAt, EndsAt time.Time
	IfVersion        *int64 // optional: the series version the caller last read
	IdempotencyKey   string // optional; see Idempotency
}

// RescheduleOccurrenceHandler handles RescheduleOccurrence.
type RescheduleOccurrenceHandler struct{ r *runner }

// Handle moves the occurrence's appointment, as RescheduleAppointment
// would: (report appointment_rescheduled), cancel appointment_starting,
// report appointment_starting at the new start, by its ID; the other
// occurrences keep their times and reminders. Errors: ErrNotFound,
// *domain.TransitionNotAllowedError, *domain.ValidationError.
func (h RescheduleOccurrenceHandler) Handle(ctx context.Context, cmd RescheduleOccurrence) (SeriesView, error) {
	return h.r.changeSeries(ctx, "reschedule occurrence", cmd.SiteID, cmd.SeriesID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(s *series.Series, occ map[int]*appointment.Appointment, now time.Time) ([]*appointment.Appointment, error) {
			a, err := occurrence(s, occ, cmd.Occurrence)
			if err != nil {
				return nil, err
			}
			return []*appointment.Appointment{a}, a.Reschedule(cmd.StartsAt, cmd.EndsAt, now)
		})
}

// changeSeries is the body of every command on an existing series: load it
// and its occurrences, check ifVersion, apply do, and save the series (when
// it changed) and the appointments do returns.
func (r *runner) changeSeries(ctx context.Context, command string, siteID domain.SiteID, id domain.ID, ifVersion *int64, o once,
	do func(s *series.Series, occ map[int]*appointment.Appointment, now time.Time) ([]*appointment.Appointment, error)) (SeriesView, error) {
	site, id, err := checkRef(siteID, "id", id)
	if err != nil {
		return SeriesView{}, err
	}
	var out SeriesView
	err = r.runOnce(ctx, command, site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		s, err := tx.Series(ctx, site, id)
		if err != nil {
			return nil, notFound(err, "series", id)
		}
		if err := checkVersion("series", id, ifVersion, s.Version()); err != nil {
			return nil, err
		}
		occ, err := loadOccurrences(ctx, tx, s)
		if err != nil {
			return nil, err
		}
		changed, err := do(s, occ, now)
		if err != nil {
			return nil, err
		}
		events := s.Events()
		if len(events) > 0 {
			if err := tx.SaveSeries(ctx, s); err != nil {
				return nil, err
			}
		}
		for _, a := range changed {
			if err := tx.SaveAppointment(ctx, a); err != nil {
				return nil, err
			}
			events = append(events, a.Events()...)
		}
		out = seriesView(s, occ)
		return events, nil
	})
	return out, err
}

// GetSeries asks for one series of a site.
type GetSeries struct {
	SiteID domain.SiteID
	ID     domain.ID
}

// GetSeriesHandler handles GetSeries.
type GetSeriesHandler struct{ r *runner }

// Handle returns the series with its occurrences, or an error wrapping
// ErrNotFound.
func (h GetSeriesHandler) Handle(ctx context.Context, q GetSeries) (SeriesView, error) {
	site, id, err := checkRef(q.SiteID, "id", q.ID)
	if err != nil {
		return SeriesView{}, err
	}
	var out SeriesView
	err = h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		s, err := tx.Series(ctx, site, id)
		if err != nil {
			return notFound(err, "series", id)
		}
		occ, err := loadOccurrences(ctx, tx, s)
		if err != nil {
			return err
		}
		out = seriesView(s, occ)
		return nil
	})
	return out, err
}
