package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/class"
)

// DefaultMaxAge is how old a real-time event may be for reconcile to report
// it when it was never delivered: a booking confirmation months late would
// be wrong.
const DefaultMaxAge = 24 * time.Hour

// reconcilePage is how many entities reconcile reads, compares and repairs
// in one transaction: it never holds a site's entities at once.
const reconcilePage = 200

// Reconcile makes Wix match the bookings: for every appointment, enrollment
// and course enrollment (with its place in every session) of a site (every site when SiteID is ""), it compares what the
// entity's state calls for (the desired state) with what lifecycle believes
// is live at Wix (its own record of calls, see outbox.Belief) and queues
// the calls that make Wix match (see repairs). It is how an operator
// repairs after dead letters, after enabling a trigger for existing
// bookings, and when a product adopts lifecycle with bookings it already has.
type Reconcile struct {
	SiteID domain.SiteID
	// DryRun computes and reports the repairs but queues nothing.
	DryRun bool
	// MaxAge bounds how old a real-time event that was never delivered may
	// be and still be reported. Zero means DefaultMaxAge.
	MaxAge time.Duration
}

// ReconcileSummary counts what a reconcile did.
type ReconcileSummary struct {
	Sites, Entities, Repairs int
	DryRun                   bool
}

// ReconcileHandler handles Reconcile.
type ReconcileHandler struct{ r *runner }

// Handle walks the site's entities a page at a time and calls emit for each
// repair, in order, once it is committed (or, in a dry run, computed). A
// second run right after the first queues nothing: the calls it queued are
// what the entities call for. Errors: *domain.ValidationError for a bad site
// ID or a negative MaxAge, store errors, and emit's error, which stops it.
func (h ReconcileHandler) Handle(ctx context.Context, cmd Reconcile, emit func(Repair) error) (ReconcileSummary, error) {
	sum := ReconcileSummary{DryRun: cmd.DryRun}
	if cmd.MaxAge < 0 {
		return sum, domain.Invalid("maxAge", "must not be negative")
	}
	if cmd.MaxAge == 0 {
		cmd.MaxAge = DefaultMaxAge
	}
	if emit == nil {
		emit = func(Repair) error { return nil }
	}
	if !cmd.SiteID.IsZero() {
		sum.Sites = 1
		return sum, h.site(ctx, cmd, cmd.SiteID, emit, &sum)
	}
	for after := (domain.SiteID{}); ; {
		var site domain.SiteID
		err := h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
			var err error
			site, err = tx.SiteAfter(ctx, after)
			return err
		})
		if errors.Is(err, ErrNotFound) {
			return sum, nil
		}
		if err != nil {
			return sum, fmt.Errorf("reconcile: %w", err)
		}
		sum.Sites++
		if err := h.site(ctx, cmd, site, emit, &sum); err != nil {
			return sum, err
		}
		after = site
	}
}

// site reconciles one site's appointments (series occurrences included),
// then its enrollments, then its course enrollments and their sessions.
func (h ReconcileHandler) site(ctx context.Context, cmd Reconcile, site domain.SiteID, emit func(Repair) error, sum *ReconcileSummary) error {
	for _, walk := range []pageWalk{h.appointments, h.enrollments, h.courseEnrollments} {
		for after := (domain.ID{}); ; {
			p, err := h.page(ctx, cmd, site, after, walk)
			if err != nil {
				return fmt.Errorf("reconcile site %s: %w", site, err)
			}
			sum.Entities += p.entities
			for _, f := range p.fixes {
				sum.Repairs++
				if err := emit(f); err != nil {
					return err
				}
			}
			if !p.more {
				break
			}
			after = p.last
		}
	}
	return nil
}

// subject is an entity of a page: what its state calls for, and how to
// touch it so that a concurrent command conflicts with the repair.
type subject struct {
	kind    string
	id      string // the externalEntityId
	desired []Live
	touch   func(ctx context.Context, tx Tx) error
}

// pageResult is what one page did: the entities it compared, the repairs
// it committed (or computed, in a dry run), and where the next page starts.
type pageResult struct {
	entities int
	fixes    []Repair
	last     domain.ID // the last aggregate ID read
	more     bool      // the page was full: another may follow
}

// page reads one page, compares and (unless a dry run) repairs it in one
// transaction, retried when a command changed one of its entities meanwhile.
func (h ReconcileHandler) page(ctx context.Context, cmd Reconcile, site domain.SiteID, after domain.ID, walk pageWalk) (pageResult, error) {
	var out pageResult
	run := func(ctx context.Context, tx ReadTx, write Tx) error {
		out = pageResult{}
		now := h.r.cfg.Clock.Now().UTC()
		z, err := siteZone(ctx, tx, site)
		if err != nil {
			return err
		}
		subjects, last, more, err := walk(ctx, tx, z, site, after)
		if err != nil {
			return err
		}
		out.entities, out.last, out.more = len(subjects), last, more
		entities := make([]string, len(subjects))
		for i, s := range subjects {
			entities[i] = s.id
		}
		beliefs, err := tx.Beliefs(ctx, site.String(), entities)
		if err != nil {
			return err
		}
		byEntity := map[string][]outbox.Belief{}
		for _, b := range beliefs {
			byEntity[b.ExternalEntityID] = append(byEntity[b.ExternalEntityID], b)
		}
		for _, s := range subjects {
			rs := repairs(s.kind, s.desired, byEntity[s.id], now, cmd.MaxAge)
			if len(rs) == 0 {
				continue
			}
			out.fixes = append(out.fixes, rs...)
			if write == nil {
				continue
			}
			if err := s.touch(ctx, write); err != nil {
				return err
			}
			b := callBuilder{ids: h.r.cfg.IDs, now: now}
			for _, r := range rs {
				if r.Kind == KindReport {
					b.report(*r.live, "reconcile")
				} else {
					b.cancel(Live{SiteID: r.SiteID, EntityID: r.EntityID, TriggerKey: r.TriggerKey}, "reconcile")
				}
			}
			if err := write.Enqueue(ctx, b.calls); err != nil {
				return fmt.Errorf("enqueue repairs: %w", err)
			}
		}
		return nil
	}
	if cmd.DryRun {
		err := h.r.view(ctx, func(ctx context.Context, tx ReadTx) error { return run(ctx, tx, nil) })
		return out, err
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = h.r.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error { return run(ctx, tx, tx) })
		if err == nil || !errors.Is(err, ErrConflict) || attempt >= h.r.cfg.MaxAttempts || ctx.Err() != nil {
			break
		}
	}
	if err == nil && len(out.fixes) > 0 {
		h.r.cfg.Wake.Notify()
	}
	return out, err
}

// pageWalk reads the page of a site's aggregates after an ID, with what
// their entities' states call for in zone z: the subjects, the last
// aggregate ID it read, and whether the page was full.
type pageWalk func(ctx context.Context, tx ReadTx, z domain.TimeZone, site domain.SiteID, after domain.ID) ([]subject, domain.ID, bool, error)

func (h ReconcileHandler) appointments(ctx context.Context, tx ReadTx, z domain.TimeZone, site domain.SiteID, after domain.ID) ([]subject, domain.ID, bool, error) {
	page, err := tx.AppointmentsAfter(ctx, site, after, reconcilePage)
	if err != nil || len(page) == 0 {
		return nil, domain.ID{}, false, err
	}
	out := make([]subject, len(page))
	for i, a := range page {
		out[i] = subject{kind: "appointment", id: a.ID().String(), desired: DesiredAppointment(h.r.policy.catalog, z, a),
			touch: func(ctx context.Context, tx Tx) error { return tx.SaveAppointment(ctx, a) }}
	}
	return out, page[len(page)-1].ID(), len(page) == reconcilePage, nil
}

func (h ReconcileHandler) enrollments(ctx context.Context, tx ReadTx, z domain.TimeZone, site domain.SiteID, after domain.ID) ([]subject, domain.ID, bool, error) {
	page, err := tx.EnrollmentsAfter(ctx, site, after, reconcilePage)
	if err != nil || len(page) == 0 {
		return nil, domain.ID{}, false, err
	}
	classes := map[domain.ID]*class.Class{}
	out := make([]subject, len(page))
	for i, e := range page {
		c, ok := classes[e.ClassID()]
		if !ok {
			if c, err = tx.Class(ctx, site, e.ClassID()); err != nil {
				return nil, domain.ID{}, false, fmt.Errorf("class of enrollment %s: %w", e.ID(), err)
			}
			classes[e.ClassID()] = c
		}
		out[i] = subject{kind: "enrollment", id: e.ID().String(), desired: DesiredEnrollment(h.r.policy.catalog, z, e, c),
			touch: func(ctx context.Context, tx Tx) error { return tx.SaveEnrollment(ctx, e) }}
	}
	return out, page[len(page)-1].ID(), len(page) == reconcilePage, nil
}
