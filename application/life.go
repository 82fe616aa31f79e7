package application

import (
	"slices"
	"sort"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// TriggerLife says when a trigger's events are live at Wix and what ends
// them, read from the desired state's rules and the aggregates' transition
// tables, for the trigger reference (docs/triggers.md).
type TriggerLife struct {
	// LiveIn lists the states of its subject in which the trigger's event is
	// called for (some triggers add a condition: a seat held, a reschedule);
	// for a course session's trigger, the enrollment's states, then the
	// session's ("session scheduled").
	LiveIn []string
	// EndedBy lists the transitions that take the subject out of those
	// states: its event is canceled then ("session cancel" for a session's).
	EndedBy []string
	// Renewed says how the event is replaced while it stays called for:
	// "moves" for a scheduled event whose time moves (cancel, then report),
	// "replaced" for a notice replaced by the next one, "" otherwise.
	Renewed string
}

// Life returns the life of role's events.
func Life(role Role) TriggerLife {
	for _, r := range appointmentRules {
		if r.role == role {
			return life(r.states, appointment.Transitions(), r.occurrence != nil, role)
		}
	}
	for _, r := range enrollmentRules {
		if r.role == role {
			return life(r.states, enrollment.Transitions(), r.occurrence != nil, role)
		}
	}
	for _, r := range courseEnrollmentRules {
		if r.role == role {
			return life(r.states, courseenrollment.Transitions(), r.occurrence != nil, role)
		}
	}
	for _, r := range sessionRules {
		if r.role == role {
			out := life(r.states, courseenrollment.Transitions(), r.occurrence != nil, role)
			session := life(r.sessions, course.SessionTransitions(), false, role)
			for _, s := range session.LiveIn {
				out.LiveIn = append(out.LiveIn, "session "+s)
			}
			for _, e := range session.EndedBy {
				out.EndedBy = append(out.EndedBy, "session "+e)
			}
			return out
		}
	}
	return TriggerLife{}
}

func life[S domain.Enum](live []S, table []domain.Transition[S], occurrence bool, role Role) TriggerLife {
	var out TriggerLife
	for _, s := range live {
		out.LiveIn = append(out.LiveIn, s.String())
	}
	for _, t := range table {
		for _, from := range t.From {
			if slices.Contains(live, from) && !slices.Contains(live, t.To) && !slices.Contains(out.EndedBy, t.Event) {
				out.EndedBy = append(out.EndedBy, t.Event)
			}
		}
	}
	sort.Strings(out.EndedBy)
	for _, t := range defaultTriggers() {
		if t.Role == role && t.Timing == Scheduled {
			out.Renewed = "moves"
		}
	}
	if occurrence {
		out.Renewed = "replaced"
	}
	return out
}
