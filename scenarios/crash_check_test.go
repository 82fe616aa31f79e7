package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// crashReport counts what the crash test checked, for its summary.
type crashReport struct {
	acked, refused, inDoubt                 int
	inDoubtCommitted                        int // of the creating commands in doubt, those the store holds
	ackedByOp, refusedByOp                  map[string]int
	appointments, classes, enrollments      int
	calls, requests                         int
	repeatedReports, repeatedCancels        int
	problems                                []string
	problemCount                            int
	appointmentIDs, classIDs, enrollmentIDs map[string]string // ID -> site, from intents
}

// crashMaxShownProblems bounds the violations a failing run prints.
const crashMaxShownProblems = 30

func (r *crashReport) problem(format string, args ...any) {
	r.problemCount++
	if len(r.problems) < crashMaxShownProblems {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// Call crashShapes: what the policy queues, as "kind trigger".
const (
	crashRApptScheduled = "report appointment_scheduled"
	crashRApptStarting  = "report appointment_starting"
	crashRApptCanceled  = "report appointment_canceled"
	crashCApptScheduled = "cancel appointment_scheduled"
	crashCApptStarting  = "cancel appointment_starting"
	crashREnrolled      = "report participant_enrolled_in_class"
	crashRClassStarting = "report class_starting"
	crashRLeft          = "report participant_left_class"
	crashRClassCanceled = "report class_canceled"
	crashCEnrolled      = "cancel participant_enrolled_in_class"
	crashCClassStarting = "cancel class_starting"
)

func crashShape(c application.Call) string { return string(c.Kind) + " " + c.TriggerKey }

func crashShapes(calls []application.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = crashShape(c)
	}
	return out
}

// crashAppointmentCalls returns the calls of an appointment that reached
// state at version: scheduled (version 1), rescheduled version-1 times, then
// canceled or not. Only these three commands run on appointments in the
// test.
func crashAppointmentCalls(state string, version int64) ([]string, bool) {
	calls := []string{crashRApptScheduled, crashRApptStarting}
	reschedules := version - 1
	if state == appointment.StateCanceled.String() {
		reschedules--
	} else if state != appointment.StateScheduled.String() {
		return nil, false
	}
	if reschedules < 0 {
		return nil, false
	}
	for range reschedules {
		calls = append(calls, crashCApptStarting, crashRApptStarting)
	}
	if state == appointment.StateCanceled.String() {
		calls = append(calls, crashRApptCanceled, crashCApptScheduled, crashCApptStarting)
	}
	return calls, true
}

// crashEnrollmentHistory is one way an enrollment can reach a state, with the
// calls it queues. Classes are never rescheduled or completed in the test.
type crashEnrollmentHistory struct {
	initial, final string
	version        int64
	calls          []string
}

var (
	crashSeatedCalls    = []string{crashREnrolled, crashRClassStarting}
	crashLeftCalls      = []string{crashREnrolled, crashRClassStarting, crashRLeft, crashCEnrolled, crashCClassStarting}
	crashLostClassCalls = []string{crashREnrolled, crashRClassStarting, crashRClassCanceled, crashCEnrolled, crashCClassStarting}
)

var crashEnrollmentHistories = func() []crashEnrollmentHistory {
	enrolled, waitlisted := enrollment.StateEnrolled.String(), enrollment.StateWaitlisted.String()
	left, canceled := enrollment.StateLeft.String(), enrollment.StateClassCanceled.String()
	return []crashEnrollmentHistory{
		{enrolled, enrolled, 1, crashSeatedCalls},
		{enrolled, left, 2, crashLeftCalls},
		{enrolled, canceled, 2, crashLostClassCalls},
		{waitlisted, waitlisted, 1, nil},
		{waitlisted, enrolled, 2, crashSeatedCalls}, // promoted
		{waitlisted, left, 2, nil},
		{waitlisted, canceled, 2, nil},
		{waitlisted, left, 3, crashLeftCalls}, // promoted, then left
		{waitlisted, canceled, 3, crashLostClassCalls},
	}
}()

// crashState is what the store holds at the end.
type crashState struct {
	appointments map[string]*appointment.Appointment
	classes      map[string]*class.Class
	enrollments  map[string]*enrollment.Enrollment
}

// crashCheck runs the checks of TestCrashSafety (see crash_test.go) and
// fails t with the first violations.
func crashCheck(t *testing.T, ctx context.Context, dir string, db *sqlite.DB, sim *wixsim.Sim) *crashReport {
	t.Helper()
	recs, err := readCrashLogs(dir)
	require.NoError(t, err)
	rep := &crashReport{ackedByOp: map[string]int{}, refusedByOp: map[string]int{},
		appointmentIDs: map[string]string{}, classIDs: map[string]string{}, enrollmentIDs: map[string]string{}}
	for _, r := range recs {
		switch r.Kind {
		case crashIntent:
			switch r.Op {
			case crashOpScheduleAppointment:
				rep.appointmentIDs[r.ID] = r.Site
			case crashOpScheduleClass:
				rep.classIDs[r.ID] = r.Site
			case crashOpEnroll:
				rep.enrollmentIDs[r.ID] = r.Site
			}
		case crashAck:
			rep.acked++
			rep.ackedByOp[r.Op]++
		case crashRefused:
			rep.refused++
			rep.refusedByOp[r.Op]++
		}
	}
	rep.inDoubt = crashIntents(recs) - rep.acked - rep.refused
	require.Positive(t, rep.acked, "no child acknowledged a command: the kills came too early to test anything")

	st := crashLoadState(t, ctx, db, rep)
	rep.inDoubtCommitted = crashCommittedInDoubt(recs, st)
	calls := crashListCalls(t, ctx, db)
	rep.calls = len(calls)
	byKey := map[string][]application.Call{}
	for _, c := range calls {
		byKey[c.OrderingKey] = append(byKey[c.OrderingKey], c)
		if c.State != application.StateDelivered && c.State != application.StateSuperseded {
			rep.problem("call %s (%s %s, seq %d) is %s, not delivered: %v", c.ID, c.OrderingKey, crashShape(c), c.Seq, c.State, c.LastError)
		}
	}

	crashCheckAcks(rep, recs, st, byKey)
	crashCheckAggregates(rep, recs, st, byKey)
	crashCheckGateway(rep, sim, byKey)
	crashCheckEvents(rep, sim, calls)
	crashCheckLive(rep, sim, st, byKey)

	assert.Zero(t, rep.problemCount, "crash safety violations (first %d of %d):\n%s",
		len(rep.problems), rep.problemCount, strings.Join(rep.problems, "\n"))
	return rep
}

// crashCommittedInDoubt counts the creating commands that a child logged but
// did not see end (killed meanwhile) and that committed all the same.
func crashCommittedInDoubt(recs []crashRecord, st crashState) int {
	ended := map[string]bool{}
	for _, r := range recs {
		if r.Kind != crashIntent {
			ended[r.ID+"/"+r.Op] = true
		}
	}
	n := 0
	for _, r := range recs {
		if r.Kind != crashIntent || ended[r.ID+"/"+r.Op] {
			continue
		}
		switch r.Op {
		case crashOpScheduleAppointment:
			n += crashCount(st.appointments[r.ID] != nil)
		case crashOpScheduleClass:
			n += crashCount(st.classes[r.ID] != nil)
		case crashOpEnroll:
			n += crashCount(st.enrollments[r.ID] != nil)
		}
	}
	return n
}

func crashCount(b bool) int {
	if b {
		return 1
	}
	return 0
}

func crashIntents(recs []crashRecord) int {
	n := 0
	for _, r := range recs {
		if r.Kind == crashIntent {
			n++
		}
	}
	return n
}

// crashLoadState reads every aggregate an intent names, in one read
// transaction. Those not found were never committed.
func crashLoadState(t *testing.T, ctx context.Context, db *sqlite.DB, rep *crashReport) crashState {
	t.Helper()
	st := crashState{appointments: map[string]*appointment.Appointment{}, classes: map[string]*class.Class{},
		enrollments: map[string]*enrollment.Enrollment{}}
	err := db.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		for id, site := range rep.appointmentIDs {
			a, err := tx.Appointment(ctx, domain.MustSiteID(site), domain.MustID(id))
			switch {
			case err == nil:
				st.appointments[id] = a
			case !errors.Is(err, application.ErrNotFound): // not found: never committed
				return err
			}
		}
		for id, site := range rep.classIDs {
			c, err := tx.Class(ctx, domain.MustSiteID(site), domain.MustID(id))
			switch {
			case err == nil:
				st.classes[id] = c
			case !errors.Is(err, application.ErrNotFound): // not found: never committed
				return err
			}
		}
		for id, site := range rep.enrollmentIDs {
			e, err := tx.Enrollment(ctx, domain.MustSiteID(site), domain.MustID(id))
			switch {
			case err == nil:
				st.enrollments[id] = e
			case !errors.Is(err, application.ErrNotFound): // not found: never committed
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	rep.appointments, rep.classes, rep.enrollments = len(st.appointments), len(st.classes), len(st.enrollments)
	return st
}

// crashListCalls returns every call of the outbox, by Seq.
func crashListCalls(t *testing.T, ctx context.Context, db *sqlite.DB) []application.Call {
	t.Helper()
	var out []application.Call
	var after int64
	for {
		page, err := db.List(ctx, application.Filter{After: after, Limit: 1000})
		require.NoError(t, err)
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// crashCheckAcks: every acknowledged command's effect is in the store and in the
// outbox.
func crashCheckAcks(rep *crashReport, recs []crashRecord, st crashState, byKey map[string][]application.Call) {
	for _, r := range recs {
		if r.Kind != crashAck {
			continue
		}
		key := application.OrderingKey(r.Site, r.ID)
		switch r.Op {
		case crashOpScheduleAppointment, crashOpRescheduleAppointment, crashOpCancelAppointment:
			a := st.appointments[r.ID]
			if a == nil {
				rep.problem("%s %s was acknowledged, but the appointment is not in the store", r.Op, r.ID)
				continue
			}
			switch {
			case a.Version() < r.Version:
				rep.problem("%s %s was acknowledged at version %d, the store has version %d", r.Op, r.ID, r.Version, a.Version())
			case r.Op == crashOpCancelAppointment && (a.State() != appointment.StateCanceled || a.Version() != r.Version):
				rep.problem("cancel appointment %s was acknowledged at version %d, the store has it %s at version %d",
					r.ID, r.Version, a.State(), a.Version())
			}
			if r.Op == crashOpCancelAppointment {
				continue
			}
			// The report of its start: the second call, plus two per
			// reschedule before it.
			i := 1 + 2*int(r.Version-1)
			calls := byKey[key]
			if i >= len(calls) || crashShape(calls[i]) != crashRApptStarting || !calls[i].ScheduledAt.Equal(r.Start) {
				rep.problem("%s %s (version %d, start %s) was acknowledged, but its outbox calls are %v",
					r.Op, r.ID, r.Version, r.Start.Format(time.RFC3339), crashDescribe(calls))
			}
		case crashOpScheduleClass, crashOpCancelClass:
			c := st.classes[r.ID]
			switch {
			case c == nil:
				rep.problem("%s %s was acknowledged, but the class is not in the store", r.Op, r.ID)
			case r.Op == crashOpCancelClass && (c.State() != class.StateCanceled || c.Version() != r.Version):
				rep.problem("cancel class %s was acknowledged at version %d, the store has it %s at version %d",
					r.ID, r.Version, c.State(), c.Version())
			}
		case crashOpEnroll, crashOpLeave:
			e := st.enrollments[r.ID]
			switch {
			case e == nil:
				rep.problem("%s %s was acknowledged, but the enrollment is not in the store", r.Op, r.ID)
			case e.Version() < r.Version:
				rep.problem("%s %s was acknowledged at version %d, the store has version %d", r.Op, r.ID, r.Version, e.Version())
			case r.Op == crashOpLeave && (e.State() != enrollment.StateLeft || e.Version() != r.Version):
				rep.problem("leave %s was acknowledged at version %d, the store has it %s at version %d",
					r.ID, r.Version, e.State(), e.Version())
			case r.Op == crashOpEnroll && r.State == enrollment.StateEnrolled.String() &&
				!slices.Equal(crashShapes(crashFirstN(byKey[key], 2)), crashSeatedCalls):
				rep.problem("enroll %s was acknowledged seated, but its outbox calls are %v", r.ID, crashDescribe(byKey[key]))
			}
		}
	}
}

func crashFirstN(calls []application.Call, n int) []application.Call {
	return calls[:min(n, len(calls))]
}

// crashCheckAggregates: every aggregate's outbox calls are those of a history
// that leads to its state and version; every call belongs to an aggregate;
// classes' seat counts match their enrollments.
func crashCheckAggregates(rep *crashReport, recs []crashRecord, st crashState, byKey map[string][]application.Call) {
	seen := map[string]bool{}
	for id, a := range st.appointments {
		key := application.OrderingKey(a.SiteID().String(), id)
		seen[key] = true
		calls := byKey[key]
		want, ok := crashAppointmentCalls(a.State().String(), a.Version())
		if !ok {
			rep.problem("appointment %s is %s at version %d, which no test history reaches", id, a.State(), a.Version())
			continue
		}
		if !slices.Equal(crashShapes(calls), want) {
			rep.problem("appointment %s is %s at version %d: want calls %v, the outbox has %v",
				id, a.State(), a.Version(), want, crashDescribe(calls))
			continue
		}
		// The last report of its start carries the current start.
		for i := len(calls) - 1; i >= 0; i-- {
			if crashShape(calls[i]) == crashRApptStarting {
				if !calls[i].ScheduledAt.Equal(a.Start()) {
					rep.problem("appointment %s starts at %s, its last starting report says %s",
						id, a.Start().Format(time.RFC3339), calls[i].ScheduledAt.Format(time.RFC3339))
				}
				break
			}
		}
	}

	initial := map[string]string{} // enrollment -> acknowledged state after enroll
	for _, r := range recs {
		if r.Kind == crashAck && r.Op == crashOpEnroll {
			initial[r.ID] = r.State
		}
	}
	byClass := map[string][]*enrollment.Enrollment{}
	for id, e := range st.enrollments {
		key := application.OrderingKey(e.SiteID().String(), id)
		seen[key] = true
		byClass[e.ClassID().String()] = append(byClass[e.ClassID().String()], e)
		calls := crashShapes(byKey[key])
		var candidates [][]string
		for _, h := range crashEnrollmentHistories {
			if h.final == e.State().String() && h.version == e.Version() && (initial[id] == "" || initial[id] == h.initial) {
				candidates = append(candidates, h.calls)
			}
		}
		if !slices.ContainsFunc(candidates, func(want []string) bool { return slices.Equal(calls, want) }) {
			rep.problem("enrollment %s (enroll acknowledged as %q) is %s at version %d: want calls among %v, the outbox has %v",
				id, initial[id], e.State(), e.Version(), candidates, crashDescribe(byKey[key]))
		}
		c := st.classes[e.ClassID().String()]
		if c == nil {
			rep.problem("enrollment %s is in class %s, which is not in the store", id, e.ClassID())
			continue
		}
		for _, call := range byKey[key] {
			if crashShape(call) == crashRClassStarting && !call.ScheduledAt.Equal(c.Start()) {
				rep.problem("enrollment %s: class_starting report at %s, the class starts at %s",
					id, call.ScheduledAt.Format(time.RFC3339), c.Start().Format(time.RFC3339))
			}
		}
	}

	for id, c := range st.classes {
		if calls := byKey[application.OrderingKey(c.SiteID().String(), id)]; len(calls) > 0 {
			rep.problem("class %s has calls of its own: %v", id, crashDescribe(calls))
		}
		seated, waiting := 0, 0
		for _, e := range byClass[id] {
			switch e.State() {
			case enrollment.StateEnrolled:
				seated++
			case enrollment.StateWaitlisted:
				waiting++
			}
		}
		switch c.State() {
		case class.StateScheduled:
			if c.Enrolled() != seated || c.Waitlisted() != waiting {
				rep.problem("class %s counts %d seated and %d waiting; its enrollments, %d and %d",
					id, c.Enrolled(), c.Waitlisted(), seated, waiting)
			}
			if waiting > 0 && seated < c.Capacity() {
				rep.problem("class %s has a free seat (%d of %d) and %d waiting", id, seated, c.Capacity(), waiting)
			}
		case class.StateCanceled:
			if seated+waiting > 0 {
				rep.problem("class %s is canceled with %d seated and %d waiting enrollments", id, seated, waiting)
			}
		default:
			rep.problem("class %s is %s, which no command of the test leads to", id, c.State())
		}
	}

	for key, calls := range byKey {
		if !seen[key] {
			rep.problem("calls of %s belong to no aggregate in the store: %v", key, crashDescribe(calls))
		}
	}
}

// crashGatewayItem is one item of a request the simulator received.
type crashGatewayItem struct {
	request int // the simulator's request Seq
	kind    application.CallKind
	trigger string
	key     string // a report's idempotency key
}

func (g crashGatewayItem) matches(c application.Call) bool {
	return g.kind == c.Kind && g.trigger == c.TriggerKey && (g.kind == application.KindCancel || g.key == c.ID)
}

// crashCheckGateway: per ordering key, Wix received the outbox calls in Seq
// order, every one of them but the superseded ones (which it may have
// received while they were in flight, in their place), and repeated a call
// only right after itself.
func crashCheckGateway(rep *crashReport, sim *wixsim.Sim, byKey map[string][]application.Call) {
	items := map[string][]crashGatewayItem{}
	for _, r := range sim.Requests("") {
		var kind application.CallKind
		switch r.Endpoint {
		case wixsim.EndpointReport, wixsim.EndpointBulkReport:
			kind = application.KindReport
			if len(r.IdempotencyKeys) != len(r.ExternalEntityIDs) {
				rep.problem("request %d reports %d events with %d idempotency keys", r.Seq, len(r.ExternalEntityIDs), len(r.IdempotencyKeys))
				continue
			}
		case wixsim.EndpointCancel, wixsim.EndpointBulkCancel:
			kind = application.KindCancel
		default:
			continue
		}
		rep.requests++
		for i, entity := range r.ExternalEntityIDs {
			it := crashGatewayItem{request: r.Seq, kind: kind, trigger: r.TriggerKey}
			if kind == application.KindReport {
				it.key = r.IdempotencyKeys[i]
			}
			key := application.OrderingKey(r.Site, entity)
			items[key] = append(items[key], it)
		}
	}
	for key, got := range items {
		if _, ok := byKey[key]; !ok {
			rep.problem("Wix received %d items for %s, which has no call in the outbox", len(got), key)
		}
	}
	optional := func(c application.Call) bool { return c.State == application.StateSuperseded }
	for key, calls := range byKey {
		got := items[key]
		cur := -1 // the call Wix received last
		for idx, it := range got {
			// The next call Wix may receive: past superseded calls, the first
			// one that is not, or else a superseded one it received in flight.
			next, inFlight := cur+1, -1
			for next < len(calls) && optional(calls[next]) {
				if inFlight < 0 && it.matches(calls[next]) {
					inFlight = next
				}
				next++
			}
			if (next == len(calls) || !it.matches(calls[next])) && inFlight >= 0 {
				next = inFlight
			}
			// A cancel that repeats the current one also matches a later
			// cancel past superseded calls. It is the repeat when Wix later
			// received one of those superseded reports (known by its
			// idempotency key, where a cancel is known by its trigger
			// only): they precede the later cancel in commit order.
			repeat := cur >= 0 && next > cur+1 && it.matches(calls[cur]) && slices.ContainsFunc(got[idx+1:], func(later crashGatewayItem) bool {
				return later.kind == application.KindReport && slices.ContainsFunc(calls[cur+1:next], later.matches)
			})
			switch {
			case !repeat && next < len(calls) && it.matches(calls[next]) && (cur < 0 || !it.matches(calls[cur]) || next > cur+1):
				// A cancel is known by its trigger only: after a superseded
				// call, one that matches both is the next one.
				cur = next
			case cur >= 0 && it.matches(calls[cur]):
				if it.kind == application.KindReport {
					rep.repeatedReports++
				} else {
					rep.repeatedCancels++
				}
			case next < len(calls) && it.matches(calls[next]):
				cur = next
			default:
				if j := slices.IndexFunc(calls, it.matches); j > cur {
					rep.problem("%s: Wix received call %d of %v in request %d, before calls %d to %d (lost or out of order)",
						key, j, crashDescribe(calls), it.request, cur+1, j-1)
				} else {
					rep.problem("%s: Wix received %s %s (key %q) in request %d after call %d of %v",
						key, it.kind, it.trigger, it.key, it.request, cur, crashDescribe(calls))
				}
				cur = len(calls) // reported; skip the rest of the key
			}
			if cur == len(calls) {
				break
			}
		}
		missing := 0
		for _, c := range calls[min(cur+1, len(calls)):] {
			if !optional(c) {
				missing++
			}
		}
		if missing > 0 {
			rep.problem("%s: Wix did not receive %d of its %d calls %v", key, missing, len(calls), crashDescribe(calls))
		}
	}
}

// crashCheckEvents: Wix recorded each delivered report once, under its
// call's ID, with its payload, and nothing else (a superseded report it may
// have received while in flight, or not).
func crashCheckEvents(rep *crashReport, sim *wixsim.Sim, calls []application.Call) {
	byID := map[string]application.Call{}
	delivered, maybe := map[string]int{}, map[string]int{} // per site
	for _, c := range calls {
		byID[c.ID] = c
		switch {
		case c.Kind != application.KindReport:
		case c.State == application.StateSuperseded:
			maybe[c.SiteID]++
		default:
			delivered[c.SiteID]++
		}
	}
	for _, site := range crashSites {
		events := sim.Events(site)
		if n := len(events); n < delivered[site] || n > delivered[site]+maybe[site] {
			rep.problem("site %s: Wix recorded %d events for %d reports delivered and %d superseded in the outbox",
				site, n, delivered[site], maybe[site])
		}
		keys := map[string]bool{}
		for _, ev := range events {
			if keys[ev.IdempotencyKey] {
				rep.problem("site %s: Wix recorded two events with idempotency key %q", site, ev.IdempotencyKey)
			}
			keys[ev.IdempotencyKey] = true
			c, ok := byID[ev.IdempotencyKey]
			if !ok || c.Kind != application.KindReport || c.SiteID != site || c.TriggerKey != ev.TriggerKey || c.ExternalEntityID != ev.ExternalEntityID {
				rep.problem("site %s: Wix recorded event %s %s with key %q, which is no report call of the outbox",
					site, ev.TriggerKey, ev.ExternalEntityID, ev.IdempotencyKey)
				continue
			}
			if !crashSameJSON(c.Payload, ev.Payload) {
				rep.problem("call %s: payload %s, Wix recorded %s", c.ID, c.Payload, ev.Payload)
			}
		}
	}
}

func crashSameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// crashCheckLive: the events live at Wix are those the final states call for,
// and scheduled ones take place at the aggregate's current start.
func crashCheckLive(rep *crashReport, sim *wixsim.Sim, st crashState, byKey map[string][]application.Call) {
	type liveEvent struct {
		trigger string
		at      time.Time
	}
	live := map[string][]liveEvent{}
	for _, site := range crashSites {
		for _, ev := range sim.LiveEvents(site) {
			key := application.OrderingKey(site, ev.ExternalEntityID)
			live[key] = append(live[key], liveEvent{ev.TriggerKey, ev.At})
		}
	}
	check := func(key, what string, want []string, start time.Time) {
		got := live[key]
		delete(live, key)
		triggers := make([]string, len(got))
		for i, ev := range got {
			triggers[i] = ev.trigger
			if strings.HasSuffix(ev.trigger, "_starting") && !ev.at.Equal(start) {
				rep.problem("%s: live %s event at %s, it starts at %s", what, ev.trigger,
					ev.at.Format(time.RFC3339), start.Format(time.RFC3339))
			}
		}
		sort.Strings(triggers)
		sort.Strings(want)
		if !slices.Equal(triggers, want) {
			rep.problem("%s: live events at Wix %v, want %v", what, triggers, want)
		}
	}
	for id, a := range st.appointments {
		var want []string
		switch a.State() {
		case appointment.StateScheduled:
			want = []string{"appointment_scheduled", "appointment_starting"}
		case appointment.StateCanceled:
			want = []string{"appointment_canceled"}
		}
		check(application.OrderingKey(a.SiteID().String(), id), fmt.Sprintf("appointment %s (%s)", id, a.State()), want, a.Start())
	}
	for id, e := range st.enrollments {
		key := application.OrderingKey(e.SiteID().String(), id)
		seated := len(byKey[key]) > 0 // it had calls only if it was seated once
		var want []string
		switch {
		case !seated:
		case e.State() == enrollment.StateEnrolled:
			want = []string{"participant_enrolled_in_class", "class_starting"}
		case e.State() == enrollment.StateLeft:
			want = []string{"participant_left_class"}
		case e.State() == enrollment.StateClassCanceled:
			want = []string{"class_canceled"}
		}
		var start time.Time
		if c := st.classes[e.ClassID().String()]; c != nil {
			start = c.Start()
		}
		check(key, fmt.Sprintf("enrollment %s (%s)", id, e.State()), want, start)
	}
	for key, evs := range live {
		rep.problem("%s: %d live events at Wix for no aggregate of the store", key, len(evs))
	}
}

// crashDescribe prints calls briefly, for a violation's message.
func crashDescribe(calls []application.Call) string {
	parts := make([]string, len(calls))
	for i, c := range calls {
		parts[i] = fmt.Sprintf("#%d %s %s/%d", c.Seq, crashShape(c), c.State, c.Attempts)
		if c.Kind == application.KindReport {
			parts[i] += " " + c.ID
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
