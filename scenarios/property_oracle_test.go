package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// The oracle of the property test. It knows nothing of the policy's calls
// or the relay: from the stored state of every aggregate (read through the
// App's queries) and the little the model observed (which enrollments held
// a seat or waited, how often a seated participant's class moved, how
// often an appointment moved), it says which events must be live at Wix,
// how many, and at which date-time.

// liveKey names the events of one trigger and entity on one site.
type liveKey struct{ site, trigger, entity string }

func (k liveKey) String() string {
	return fmt.Sprintf("%s %s (%s)", siteName(k.site), k.trigger, k.entity)
}

// want is how many live events a key must have, and their date-time when
// the trigger is scheduled.
type want struct {
	min, max int
	at       time.Time // zero: real-time, any date-time
}

func exactly(n int) want { return want{min: n, max: n} }

func exactlyIf(ok bool) want {
	if ok {
		return exactly(1)
	}
	return exactly(0)
}

// scheduledAt: a scheduled trigger of a live booking has exactly one event
// at its start while the start is ahead; once it has passed, its event may
// have been reported in time or expired unsent, so zero or one, still at
// that start. A booking that is over (canceled, left) has none at all.
func scheduledAt(live bool, start, now time.Time) want {
	switch {
	case !live:
		return exactly(0)
	case start.After(now):
		return want{min: 1, max: 1, at: start}
	}
	return want{min: 0, max: 1, at: start}
}

// expected computes, from the stored states, every key's expected live
// events on every site.
func (w *propWorld) expected() map[liveKey]want {
	now := w.clock.Now()
	out := map[liveKey]want{}
	add := func(site string, role application.Role, entity string, x want) {
		if t, ok := w.catalog.Trigger(role); ok {
			out[liveKey{site, t.Key, entity}] = x
		}
	}
	for _, a := range w.appts {
		v, err := w.app.GetAppointment.Handle(w.ctx, application.GetAppointment{SiteID: domain.MustSiteID(a.site), ID: domain.MustID(a.id)})
		if err != nil {
			w.t.Fatalf("get appointment %s on %s: %v", a.id, siteName(a.site), err)
		}
		// A booking's events live while it stands or once it took place; a
		// cancel or a no-show ends them, and so the one reschedule notice
		// that is live (the last).
		booked := v.State == "scheduled" || v.State == "completed"
		add(a.site, application.RoleAppointmentScheduled, a.id, exactlyIf(booked))
		add(a.site, application.RoleAppointmentStarting, a.id, scheduledAt(booked, v.StartsAt, now))
		add(a.site, application.RoleAppointmentCanceled, a.id, exactlyIf(v.State == "canceled"))
		add(a.site, application.RoleAppointmentRescheduled, a.id, exactlyIf(booked && a.reschedules > 0))
		add(a.site, application.RoleAppointmentCompleted, a.id, exactlyIf(v.State == "completed"))
		add(a.site, application.RoleAppointmentNoShow, a.id, exactlyIf(v.State == "no_show"))
	}
	for _, e := range w.enrs {
		v, err := w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: domain.MustSiteID(e.site), ID: domain.MustID(e.id)})
		if err != nil {
			w.t.Fatalf("get enrollment %s: %v", e.name(), err)
		}
		c, err := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: domain.MustSiteID(e.site), ID: domain.MustID(e.classID)})
		if err != nil {
			w.t.Fatalf("get class of %s: %v", e.name(), err)
		}
		seated := v.State == "enrolled" || v.State == "attended"
		add(e.site, application.RoleParticipantEnrolled, e.id, exactlyIf(seated))
		add(e.site, application.RoleClassStarting, e.id, scheduledAt(seated, c.StartsAt, now))
		add(e.site, application.RoleParticipantLeft, e.id, exactlyIf(v.State == "left" && e.everSeated))
		add(e.site, application.RoleClassCanceled, e.id, exactlyIf(v.State == "class_canceled" && e.everSeated))
		add(e.site, application.RoleParticipantWaitlisted, e.id, exactlyIf(v.State == "waitlisted"))
		add(e.site, application.RoleClassRescheduled, e.id, exactlyIf(seated && e.classMoves > 0))
		add(e.site, application.RoleClassCompleted, e.id, exactlyIf(v.State == "attended"))
	}
	return out
}

// check compares the simulator with the oracle; the outbox has drained.
// In a case with operators, the operator first repairs what refusals,
// discards and catalog changes left (repair).
func (w *propWorld) check(label string) {
	if w.operators {
		w.repair()
	}
	expected := w.expected()
	live := map[liveKey][]wixsim.Event{}
	events := 0
	for _, site := range propSites {
		for _, ev := range w.sim.LiveEvents(site) {
			k := liveKey{site, ev.TriggerKey, ev.ExternalEntityID}
			live[k] = append(live[k], ev)
		}
		events += len(w.sim.Events(site))
	}
	var violations []string
	for k, evs := range live {
		x, ok := expected[k]
		if !ok {
			x = exactly(0)
		}
		if len(evs) < x.min || len(evs) > x.max {
			violations = append(violations, fmt.Sprintf("%s: %d live events, want %s", k, len(evs), x.describe()))
		}
		if !x.at.IsZero() {
			for _, ev := range evs {
				if !ev.At.Equal(x.at) {
					violations = append(violations, fmt.Sprintf("%s: live event at %s, want %s", k, w.relStart(ev.At), w.relStart(x.at)))
				}
			}
		}
	}
	for k, x := range expected {
		if x.min > 0 && len(live[k]) == 0 {
			violations = append(violations, fmt.Sprintf("%s: no live event, want %s", k, x.describe()))
		}
	}
	if !w.operators {
		violations = append(violations, w.checkWithdrawn()...)
	}
	w.stats.add(func(s *propertyStats) { s.checks++; s.events += events })
	if len(violations) > 0 {
		sort.Strings(violations)
		w.t.Fatalf("%s: Wix is not true to the bookings:\n  %s%s", label, strings.Join(violations, "\n  "), w.describeCalls())
	}
}

func (x want) describe() string {
	n := fmt.Sprint(x.min)
	if x.max != x.min {
		n = fmt.Sprintf("%d to %d", x.min, x.max)
	}
	if !x.at.IsZero() {
		n += " at " + x.at.Format(time.RFC3339)
	}
	return n
}

func (w *propWorld) relStart(t time.Time) string { return "start" + signed(t.Sub(w.start)) }

// withdrawal is a command that asked for the events of a key to be
// canceled (a cancel, a leave, a reschedule's old reminder): every event of
// that key whose report was committed before it (outbox Seq up to seq) must
// be canceled at Wix by the end of the first delivery after it (drainedBy),
// and none of its actions may run later.
type withdrawal struct {
	at, drainedBy time.Time
	seq           int64
}

// withdraw records that the command just run withdrew the events of role
// for entity on site.
func (w *propWorld) withdraw(site string, role application.Role, entity string) {
	t, ok := w.catalog.Trigger(role)
	if !ok {
		return
	}
	k := liveKey{site, t.Key, entity}
	w.withdrawals[k] = append(w.withdrawals[k], &withdrawal{at: w.clock.Now(), seq: w.seqBefore})
}

// drained marks every withdrawal so far as delivered by now.
func (w *propWorld) drained() {
	now := w.clock.Now()
	for _, ws := range w.withdrawals {
		for _, x := range ws {
			if x.drainedBy.IsZero() {
				x.drainedBy = now
			}
		}
	}
}

// checkWithdrawn holds the withdrawals to their promise, and checks that
// every event canceled at Wix was withdrawn by a command.
func (w *propWorld) checkWithdrawn() []string {
	seqOf := map[string]int64{} // outbox call ID (a report's idempotency key) -> Seq
	for after := int64(0); ; {
		page, err := w.db.List(w.ctx, application.Filter{After: after, Limit: 1000})
		if err != nil {
			w.t.Fatalf("list outbox: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			seqOf[c.ID] = c.Seq
		}
		after = page[len(page)-1].Seq
	}
	var violations []string
	for _, site := range propSites {
		ran := map[int64][]wixsim.Activation{}
		for _, a := range w.sim.Activations(site, wixsim.ActivationRan) {
			ran[a.EventSeq] = append(ran[a.EventSeq], a)
		}
		for _, ev := range w.sim.Events(site) {
			k := liveKey{site, ev.TriggerKey, ev.ExternalEntityID}
			seq, ok := seqOf[ev.IdempotencyKey]
			if !ok {
				violations = append(violations, fmt.Sprintf("%s: an event no outbox call reported", k))
				continue
			}
			withdrawn := false
			for _, x := range w.withdrawals[k] {
				withdrawn = withdrawn || !x.at.After(ev.CanceledAt)
				if seq > x.seq {
					continue // reported by this command or a later one
				}
				switch {
				case !ev.Canceled:
					violations = append(violations, fmt.Sprintf("%s: still live after its withdrawal at %s was delivered",
						k, w.relStart(x.at)))
				case ev.CanceledAt.After(x.drainedBy):
					violations = append(violations, fmt.Sprintf("%s: canceled at %s, after the delivery that followed its withdrawal (%s, delivered by %s)",
						k, w.relStart(ev.CanceledAt), w.relStart(x.at), w.relStart(x.drainedBy)))
				}
				for _, a := range ran[ev.Seq] {
					if a.DueAt.After(x.drainedBy) {
						violations = append(violations, fmt.Sprintf("%s: %q ran at %s, after its withdrawal at %s was delivered by %s",
							k, a.Automation, w.relStart(a.DueAt), w.relStart(x.at), w.relStart(x.drainedBy)))
					}
				}
			}
			if ev.Canceled && !withdrawn {
				violations = append(violations, fmt.Sprintf("%s: an event reported at %s was canceled at %s, but no command withdrew it",
					k, w.relStart(ev.ReportedAt), w.relStart(ev.CanceledAt)))
			}
		}
	}
	return violations
}

// checkFutureActions runs the clock far ahead, after the last check: the
// actions still to come run for live events only, and all of them run.
func (w *propWorld) checkFutureActions() {
	end := w.clock.Now()
	w.sim.Advance(60 * day)
	var violations []string
	for _, site := range propSites {
		live := map[int64]bool{}
		for _, ev := range w.sim.LiveEvents(site) {
			live[ev.Seq] = true
		}
		for _, a := range w.sim.Activations(site) {
			if !a.DueAt.After(end) {
				continue
			}
			ran := a.State == wixsim.ActivationRan
			if ran != live[a.EventSeq] {
				violations = append(violations, fmt.Sprintf("%s: %q due at %s is %s, its event live: %v",
					liveKey{site, a.TriggerKey, a.ExternalEntityID}, a.Automation, w.relStart(a.DueAt), a.State, live[a.EventSeq]))
			}
		}
	}
	if len(violations) > 0 {
		sort.Strings(violations)
		w.t.Fatalf("actions after the end:\n  %s", strings.Join(violations, "\n  "))
	}
}

// checkClasses holds the seat invariants after every accepted command:
// capacity never exceeded, the class's counts equal its enrollments, a
// waitlist only behind a full open class, promotion oldest first.
func (w *propWorld) checkClasses() {
	now := w.clock.Now()
	for key := range w.classes {
		site, id, _ := strings.Cut(key, "/")
		c, err := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: domain.MustSiteID(site), ID: domain.MustID(id)})
		if err != nil {
			w.t.Fatalf("get class %s on %s: %v", id, siteName(site), err)
		}
		seated, waiting := 0, 0
		lastPromoted, firstWaiting := -1, -1
		for _, e := range w.enrs {
			if e.site != site || e.classID != id {
				continue
			}
			switch e.state {
			case "enrolled":
				seated++
			case "waitlisted":
				waiting++
				if firstWaiting < 0 {
					firstWaiting = e.order
				}
			}
			if e.everWaitlisted && e.everSeated {
				lastPromoted = max(lastPromoted, e.order)
			}
		}
		name := fmt.Sprintf("class %s on %s", id, siteName(site))
		switch {
		case c.Enrolled > c.Capacity:
			w.t.Fatalf("%s: %d enrolled beyond its %d seats", name, c.Enrolled, c.Capacity)
		case c.State == "scheduled" && (c.Enrolled != seated || c.Waitlisted != waiting):
			w.t.Fatalf("%s counts %d enrolled and %d waitlisted; its enrollments say %d and %d", name, c.Enrolled, c.Waitlisted, seated, waiting)
		case !c.Waitlist && waiting > 0:
			w.t.Fatalf("%s has no waitlist but %d wait", name, waiting)
		case c.State == "scheduled" && now.Before(c.StartsAt) && waiting > 0 && c.Enrolled < c.Capacity:
			w.t.Fatalf("%s is open with a free seat while %d wait", name, waiting)
		case firstWaiting >= 0 && lastPromoted > firstWaiting:
			w.t.Fatalf("%s promoted a later arrival before an earlier one", name)
		}
	}
}

// describeCalls lists every call, for a failing check.
func (w *propWorld) describeCalls() string {
	calls, err := w.db.List(w.ctx, application.Filter{Limit: 10000})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString("\ncalls:")
	for _, c := range calls {
		fmt.Fprintf(&b, "\n  #%d %s %s %s %s on %s: %s, %d attempts %v (%s)", c.Seq, c.ID[len(c.ID)-4:], c.Kind, c.TriggerKey,
			c.ExternalEntityID[len(c.ExternalEntityID)-3:], siteName(c.SiteID), c.State, c.Attempts, c.LastError, c.Cause)
	}
	return b.String()
}
