package application

import (
	"sort"
	"time"

	"github.com/bookable/lifecycle/application/outbox"
)

// Repair is one call reconcile queues (or, in a dry run, would queue) to
// make Wix show what an entity's state calls for, with why.
type Repair struct {
	SiteID      string
	Subject     string // "appointment", "enrollment", "course enrollment" or "enrollment session"
	EntityID    string // the externalEntityId
	Kind        CallKind
	TriggerKey  string
	ScheduledAt time.Time // a scheduled report's date-time
	Reason      string
	live        *Live // the event a report reports
}

// The reasons of a repair.
const (
	ReasonMissing    = "called for, not at Wix"
	ReasonStale      = "at Wix, no longer called for"
	ReasonMoved      = "at Wix with another time or payload"
	ReasonUnsure     = "maybe at Wix, maybe twice (an attempt that failed, or a cancel that did not take effect)"
	ReasonPending    = "a queued call would leave Wix wrong"
	ReasonReplaced   = "replaced by the repair's report"
	ReasonNeverAsked = "never delivered, happened within the max age"
)

// repairs compares what one entity's state calls for (desired) with what
// lifecycle believes is live at Wix for it (beliefs, one per trigger key it
// has calls or a compacted record for) and returns the calls that make Wix
// match, in order: per trigger, a cancel before the report that replaces
// it. It is pure, so that reconcile and its tests see one rule:
//
//   - a queued call decides once delivered: it is left alone when it leaves
//     Wix right (the newest pending call reports what is called for, or
//     cancels what is not), else it is corrected after it;
//   - nothing called for, something (maybe) live: cancel;
//   - a scheduled event called for, in the future: report it when nothing is
//     live; cancel and report it when what is live has another time or
//     payload, or may be live twice; leave it when the one live event is it;
//   - a scheduled event whose time has passed: never reported; what is live
//     of it is left, but a stale copy (another time, or twice) is canceled;
//   - a real-time event called for: reported when it never was and happened
//     within maxAge of now; when it may be live twice (a replaced notice
//     whose cancel never took effect), canceled and reported once more if it
//     happened within maxAge (its immediate actions run again; the older
//     one's delayed actions do not run); otherwise never sent again once it
//     may have been delivered.
func repairs(subject string, desired []Live, beliefs []outbox.Belief, now time.Time, maxAge time.Duration) []Repair {
	want := map[string]*Live{}
	var keys []string
	for i := range desired {
		l := &desired[i]
		want[l.TriggerKey] = l
		keys = append(keys, l.TriggerKey)
	}
	have := map[string]outbox.Belief{}
	var extra []string
	for _, b := range beliefs {
		have[b.TriggerKey] = b
		if want[b.TriggerKey] == nil {
			extra = append(extra, b.TriggerKey)
		}
	}
	sort.Strings(extra)
	var out []Repair
	for _, key := range append(keys, extra...) {
		d, b := want[key], have[key]
		out = append(out, repairOne(subject, key, d, b, now, maxAge)...)
	}
	return out
}

func repairOne(subject, key string, d *Live, b outbox.Belief, now time.Time, maxAge time.Duration) []Repair {
	cancel := func(reason string) Repair {
		r := Repair{Subject: subject, Kind: KindCancel, TriggerKey: key, Reason: reason}
		if d != nil {
			r.SiteID, r.EntityID = d.SiteID, d.EntityID
		} else {
			r.SiteID, r.EntityID = b.SiteID, b.ExternalEntityID
		}
		return r
	}
	report := func(reason string) Repair {
		return Repair{SiteID: d.SiteID, Subject: subject, EntityID: d.EntityID, Kind: KindReport, TriggerKey: key,
			ScheduledAt: d.ScheduledAt, Reason: reason, live: d}
	}
	future := d != nil && d.Timing == Scheduled && d.ScheduledAt.After(now)
	recent := d != nil && d.Timing == RealTime && !d.Since.IsZero() && now.Sub(d.Since) <= maxAge
	if p := b.Pending; p != nil {
		switch {
		case d == nil && p.Kind == KindCancel, d != nil && p.Kind == KindReport && matches(d, p):
			return nil
		case d == nil:
			return []Repair{cancel(ReasonPending)}
		case p.Kind == KindCancel && (future || recent):
			return []Repair{report(ReasonPending)}
		case p.Kind == KindCancel:
			return nil
		case future:
			return []Repair{cancel(ReasonPending), report(ReasonReplaced)}
		}
		return []Repair{cancel(ReasonPending)} // it would report a time that passed
	}
	switch {
	case d == nil:
		if b.Live != outbox.LiveNone {
			return []Repair{cancel(ReasonStale)}
		}
	case d.Timing == Scheduled:
		sameOne := b.Live == outbox.LiveOne && b.Event != nil && d.ScheduledAt.Equal(b.Event.ScheduledAt) &&
			sameJSON(d.Payload, b.Event.Payload)
		switch {
		case sameOne:
		case b.Live == outbox.LiveNone && future:
			return []Repair{report(ReasonMissing)}
		case b.Live == outbox.LiveNone:
		case future && b.Live == outbox.LiveUnsure:
			return []Repair{cancel(ReasonUnsure), report(ReasonReplaced)}
		case future:
			return []Repair{cancel(ReasonMoved), report(ReasonReplaced)}
		default:
			return []Repair{cancel(ReasonMoved)} // its time passed: only the stale copy goes
		}
	case b.Live == outbox.LiveNone && recent:
		return []Repair{report(ReasonNeverAsked)}
	case b.Live == outbox.LiveUnsure && recent:
		// Maybe twice: the older one's delayed actions must not run. The
		// report runs the event's immediate actions once more.
		return []Repair{cancel(ReasonUnsure), report(ReasonReplaced)}
	}
	return nil
}

// matches reports whether a pending report p reports what d calls for.
func matches(d *Live, p *outbox.Call) bool {
	if d.Timing == RealTime {
		return true
	}
	return d.ScheduledAt.Equal(p.ScheduledAt) && sameJSON(d.Payload, p.Payload)
}
