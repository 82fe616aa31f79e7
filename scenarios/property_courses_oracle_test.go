package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// The oracle of the course and series property: what the model of the
// script calls for at Wix, and the checks of what the outbox makes live.

// pcLive is what the oracle expects of one live event.
type pcLive struct {
	at    time.Time // a scheduled event's time; zero for a real-time one
	local string    // the local start its payload shows ("" for real-time)
}

// expected is the oracle: the events the model calls for, by trigger key
// and entity.
func (w *pcWorld) expected() map[[2]string]pcLive {
	out := map[[2]string]pcLive{}
	local := func(t time.Time) string { return t.In(w.zone).Format("2006-01-02T15:04") }
	for _, e := range w.enrs {
		c := w.courses[e.courseID]
		holds := e.state == "enrolled" || e.state == "completed"
		switch {
		case holds:
			out[[2]string{"participant_enrolled_in_course", e.id}] = pcLive{}
		case e.state == "left":
			out[[2]string{"participant_left_course", e.id}] = pcLive{}
		case e.state == "course_canceled":
			out[[2]string{"course_canceled", e.id}] = pcLive{}
		}
		for _, s := range c.sessions {
			seat := courseenrollment.SessionEntityID(domain.MustID(e.id), s.number)
			tookPlace := !e.endedAt.IsZero() && s.start.Before(e.endedAt)
			if s.state == "scheduled" && (holds || tookPlace) {
				out[[2]string{"course_session_starting", seat.String()}] = pcLive{at: s.start, local: local(s.start)}
			}
			if s.state == "canceled" && holds && !s.canceledAt.Before(e.enrolledAt) {
				out[[2]string{"course_session_canceled", seat.String()}] = pcLive{}
			}
		}
	}
	for _, s := range w.series {
		for _, o := range s.occ {
			switch o.state {
			case "scheduled":
				out[[2]string{"appointment_scheduled", o.appointmentID}] = pcLive{}
				out[[2]string{"appointment_starting", o.appointmentID}] = pcLive{at: o.start, local: local(o.start)}
			case "canceled":
				out[[2]string{"appointment_canceled", o.appointmentID}] = pcLive{}
			}
		}
	}
	return out
}

// wix replays the outbox in order as Wix applies it: the events live at
// the end, how many of each pair, and the last report of each.
func (w *pcWorld) wix() (map[[2]string]int, map[[2]string]application.Call) {
	count, last := map[[2]string]int{}, map[[2]string]application.Call{}
	for _, c := range w.calls() {
		k := [2]string{c.TriggerKey, c.ExternalEntityID}
		if c.Kind == application.KindCancel {
			delete(count, k)
			continue
		}
		count[k]++
		last[k] = c
	}
	return count, last
}

func (w *pcWorld) check(after string) {
	want := w.expected()
	count, last := w.wix()
	var problems []string
	for k, n := range count {
		x, ok := want[k]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s %s is live at Wix, not called for", k[0], k[1]))
		case n != 1:
			problems = append(problems, fmt.Sprintf("%s %s is live %d times", k[0], k[1], n))
		case !x.at.Equal(last[k].ScheduledAt):
			problems = append(problems, fmt.Sprintf("%s %s is at %s, want %s", k[0], k[1], last[k].ScheduledAt, x.at))
		case x.local != "":
			var p map[string]string
			if err := json.Unmarshal(last[k].Payload, &p); err != nil {
				w.t.Fatalf("payload: %v", err)
			}
			field := "startsAtLocal"
			if k[0] == "course_session_starting" {
				field = "sessionStartsAtLocal"
			}
			if p[field] != x.local || p["timeZone"] != w.zone.String() {
				problems = append(problems, fmt.Sprintf("%s %s shows %s %s in %s, want %s in %s", k[0], k[1], field, p[field],
					p["timeZone"], x.local, w.zone))
			}
		}
	}
	for k := range want {
		if count[k] == 0 {
			problems = append(problems, fmt.Sprintf("%s %s is called for, not live at Wix", k[0], k[1]))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		w.t.Fatalf("after %s, Wix is not true to the courses and series:\n%s", after, strings.Join(problems, "\n"))
	}
	w.checkDesiredFor(last, count)
}

// checkDesiredFor: every live event's subject is found again by its
// externalEntityId (Refresh Payload), calling for the same event.
func (w *pcWorld) checkDesiredFor(last map[[2]string]application.Call, count map[[2]string]int) {
	err := w.store.View(w.ctx, func(ctx context.Context, tx application.ReadTx) error {
		for k := range count {
			lives, err := application.DesiredFor(ctx, tx, w.app.Catalog(), Site, domain.MustID(k[1]))
			if err != nil {
				return fmt.Errorf("DesiredFor %s %s: %w", k[0], k[1], err)
			}
			found := false
			for _, l := range lives {
				// A real-time event happened once; its payload may have
				// moved on (a reminder's may not: Wix sends it later).
				same := l.Timing == application.RealTime ||
					(l.ScheduledAt.Equal(last[k].ScheduledAt) && string(l.Payload) == string(last[k].Payload))
				if l.TriggerKey == k[0] && same {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("DesiredFor %s does not call for the live %s", k[1], k[0])
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		w.t.Fatalf("%v", err)
	}
}
