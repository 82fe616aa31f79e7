package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/class"
)

// ScheduleClass creates a class.
type ScheduleClass struct {
	SiteID           domain.SiteID
	ID               domain.ID // optional: a caller-chosen UUID makes the command idempotent
	IdempotencyKey   string    // optional; see Idempotency
	Title            string
	StartsAt, EndsAt time.Time
	Capacity         int
	Waitlist         bool
}

// ScheduleClassHandler handles ScheduleClass.
type ScheduleClassHandler struct{ r *runner }

// Handle creates the class. It queues no call: participants hear of a class
// through their enrollments. With an ID that already names an identical
// class it returns that class; with an ID used otherwise, an error wrapping
// ErrConflict. Invalid input is a *domain.ValidationError.
func (h ScheduleClassHandler) Handle(ctx context.Context, cmd ScheduleClass) (ClassView, error) {
	o := once{cmd.IdempotencyKey, cmd} // before an ID is minted: a retry mints another
	// A minted ID names nothing yet: no read looks for it (a save of a new
	// aggregate whose ID exists is a conflict in every store anyway).
	minted := cmd.ID.IsZero()
	if minted {
		var err error
		if cmd.ID, err = h.r.mint(); err != nil {
			return ClassView{}, err
		}
	}
	site, id, err := checkRef(cmd.SiteID, "id", cmd.ID) // once, outside the retried function
	if err != nil {
		return ClassView{}, err
	}
	var out ClassView
	err = h.r.runOnce(ctx, "schedule class", site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		var existing *class.Class
		err := ErrNotFound
		if !minted {
			existing, err = tx.Class(ctx, site, id)
		}
		switch {
		case err == nil:
			if existing.Title() != cmd.Title || !existing.Start().Equal(domain.Instant(cmd.StartsAt)) || !existing.End().Equal(domain.Instant(cmd.EndsAt)) ||
				existing.Capacity() != cmd.Capacity || existing.Waitlist() != cmd.Waitlist {
				return nil, fmt.Errorf("class %s: %w", id, ErrIDTaken)
			}
			out = classView(existing)
			return nil, nil
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
		c, err := class.Schedule(class.New{
			ID: id, SiteID: site, Title: cmd.Title, Start: cmd.StartsAt, End: cmd.EndsAt,
			Capacity: cmd.Capacity, Waitlist: cmd.Waitlist,
		}, now)
		if err != nil {
			return nil, err
		}
		if err := tx.SaveClass(ctx, c); err != nil {
			return nil, err
		}
		out = classView(c)
		return c.Events(), nil
	})
	return out, err
}
