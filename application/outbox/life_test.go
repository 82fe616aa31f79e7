package outbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application/outbox"
)

func TestSupersedesFollowsTheRule(t *testing.T) {
	type key struct {
		older     outbox.State
		olderKind outbox.Kind
		newer     outbox.Kind
	}
	want := map[key]bool{
		{outbox.StatePending, outbox.KindReport, outbox.KindReport}: true,
		{outbox.StatePending, outbox.KindReport, outbox.KindCancel}: true,
		{outbox.StatePending, outbox.KindCancel, outbox.KindCancel}: true,
		{outbox.StatePending, outbox.KindCancel, outbox.KindReport}: false, // it must still go first
		{outbox.StateDead, outbox.KindReport, outbox.KindReport}:    true,
		{outbox.StateDead, outbox.KindCancel, outbox.KindReport}:    true,
		{outbox.StateDead, outbox.KindCancel, outbox.KindCancel}:    true,
		{outbox.StateDead, outbox.KindReport, outbox.KindCancel}:    true,
		{outbox.StateExpired, outbox.KindReport, outbox.KindReport}: true,
		{outbox.StateExpired, outbox.KindReport, outbox.KindCancel}: true,
		// Cancels never expire, but the rule does not depend on the kind.
		{outbox.StateExpired, outbox.KindCancel, outbox.KindReport}: true,
		{outbox.StateExpired, outbox.KindCancel, outbox.KindCancel}: true,
	}
	for _, st := range outbox.States() {
		for _, ok := range []outbox.Kind{outbox.KindReport, outbox.KindCancel} {
			for _, nk := range []outbox.Kind{outbox.KindReport, outbox.KindCancel} {
				k := key{st, ok, nk}
				assert.Equal(t, want[k], outbox.Supersedes(st, ok, nk), "%v", k)
			}
		}
	}
	n := 0
	for _, r := range outbox.SupersedeRules() {
		assert.True(t, outbox.Supersedes(r.Older, r.OlderKind, r.Newer), "%v", r)
		n++
	}
	assert.Equal(t, 11, n, "the rules list every superseding case")
}

func TestSettledAppliesOnlyToPendingCalls(t *testing.T) {
	for _, tc := range []struct {
		from, outcome outbox.State
		newer         bool
		to            outbox.State
		applies       bool
	}{
		{outbox.StatePending, outbox.StateDelivered, false, outbox.StateDelivered, true},
		{outbox.StatePending, outbox.StateDelivered, true, outbox.StateDelivered, true},
		{outbox.StatePending, outbox.StatePending, true, outbox.StatePending, true},
		{outbox.StatePending, outbox.StateDead, false, outbox.StateDead, true},
		{outbox.StatePending, outbox.StateDead, true, outbox.StateSuperseded, true},
		{outbox.StatePending, outbox.StateExpired, true, outbox.StateSuperseded, true},
		{outbox.StateSuperseded, outbox.StateDelivered, false, outbox.StateSuperseded, false},
		{outbox.StateDiscarded, outbox.StateDead, false, outbox.StateDiscarded, false},
		{outbox.StateDelivered, outbox.StatePending, false, outbox.StateDelivered, false},
	} {
		to, applies, err := outbox.Settled(tc.from, tc.outcome, tc.newer)
		require.NoError(t, err)
		assert.Equal(t, tc.to, to, "%+v", tc)
		assert.Equal(t, tc.applies, applies, "%+v", tc)
	}
	for _, bad := range []outbox.State{outbox.StateDiscarded, outbox.StateSuperseded, "nonsense"} {
		_, _, err := outbox.Settled(outbox.StatePending, bad, false)
		assert.ErrorIs(t, err, outbox.ErrCallState, bad)
	}
}

func TestRetryAndDiscardFollowTheTable(t *testing.T) {
	retry := map[outbox.State]bool{outbox.StateDead: true, outbox.StateExpired: true}
	discard := map[outbox.State]bool{outbox.StatePending: true, outbox.StateDead: true, outbox.StateExpired: true}
	for _, st := range outbox.States() {
		c := outbox.Call{ID: "c", State: st, SupersededBy: "n"}
		err := outbox.CheckRetry(c)
		assert.Equal(t, retry[st], err == nil, "retry %s: %v", st, err)
		if st == outbox.StateSuperseded {
			var sup *outbox.SupersededError
			require.ErrorAs(t, err, &sup)
			assert.Equal(t, "n", sup.NewerID)
			assert.Contains(t, err.Error(), "reconcile")
		}
		err = outbox.CheckDiscard(c)
		assert.Equal(t, discard[st], err == nil, "discard %s: %v", st, err)
	}
}

func TestBeliefFold(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	call := func(id string, seq int64, kind outbox.Kind, st outbox.State, attempts int, e *outbox.CallError) outbox.Call {
		return outbox.Call{ID: id, Seq: seq, SiteID: "s", TriggerKey: "t", ExternalEntityID: "e", Kind: kind,
			State: st, Attempts: attempts, LastError: e, SettledAt: at}
	}
	rep, can := outbox.KindReport, outbox.KindCancel
	for _, tc := range []struct {
		name  string
		calls []outbox.Call
		live  outbox.Liveness
		event string
	}{
		{"nothing yet", nil, outbox.LiveNone, ""},
		{"a delivered report", []outbox.Call{call("r1", 1, rep, outbox.StateDelivered, 1, nil)}, outbox.LiveOne, "r1"},
		{"then its cancel", []outbox.Call{call("r1", 1, rep, outbox.StateDelivered, 1, nil),
			call("c2", 2, can, outbox.StateDelivered, 1, nil)}, outbox.LiveNone, ""},
		{"a dead cancel between two reports", []outbox.Call{call("r1", 1, rep, outbox.StateDelivered, 1, nil),
			call("c2", 2, can, outbox.StateSuperseded, 1, &outbox.CallError{Status: 403}),
			call("r3", 3, rep, outbox.StateDelivered, 1, nil)}, outbox.LiveUnsure, "r3"},
		{"a report that timed out", []outbox.Call{call("r1", 1, rep, outbox.StateSuperseded, 1, &outbox.CallError{Message: "timeout"})},
			outbox.LiveUnsure, "r1"},
		{"a report Wix refused, after an attempt that may have taken effect unrecorded",
			[]outbox.Call{call("r1", 1, rep, outbox.StateDead, 1, &outbox.CallError{Status: 400})}, outbox.LiveUnsure, "r1"},
		{"a report never sent", []outbox.Call{call("r1", 1, rep, outbox.StateSuperseded, 0, nil)}, outbox.LiveNone, ""},
		{"an unsure pair made sure by a cancel", []outbox.Call{call("r1", 1, rep, outbox.StateDelivered, 1, nil),
			call("r2", 2, rep, outbox.StateDelivered, 1, nil), call("c3", 3, can, outbox.StateDelivered, 1, nil)}, outbox.LiveNone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := outbox.FoldBeliefs(nil, tc.calls)
			if len(tc.calls) == 0 {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, tc.live, got[0].Live)
			if tc.event == "" {
				assert.Nil(t, got[0].Event)
			} else {
				require.NotNil(t, got[0].Event)
				assert.Equal(t, tc.event, got[0].Event.CallID)
			}
		})
	}
	pending := outbox.FoldBeliefs(nil, []outbox.Call{call("r1", 1, rep, outbox.StateDelivered, 1, nil),
		call("c2", 2, can, outbox.StatePending, 0, nil), call("r3", 3, rep, outbox.StatePending, 0, nil)})
	require.NotNil(t, pending[0].Pending)
	assert.Equal(t, "r3", pending[0].Pending.ID, "the newest pending call decides")
	assert.Equal(t, outbox.LiveOne, pending[0].Live)
}
