package wixsim_test

import (
	"context"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmulatorClockFlowsAndJumps(t *testing.T) {
	base := fake.NewClock(t0)
	c := wixsim.NewEmulatorClock(base, time.Time{}, false)
	assert.Equal(t, t0, c.Now(), "starts at the base's time")
	base.Advance(time.Minute)
	assert.Equal(t, t0.Add(time.Minute), c.Now(), "flows with the base")
	assert.Equal(t, t0.Add(25*time.Hour+time.Minute), c.Advance(25*time.Hour))
	base.Advance(time.Second)
	assert.Equal(t, t0.Add(25*time.Hour+time.Minute+time.Second), c.Now(), "keeps flowing after a jump")
	at := t0.Add(100 * time.Hour)
	c.Set(at)
	base.Advance(time.Second)
	assert.Equal(t, at.Add(time.Second), c.Now())
	assert.False(t, c.Frozen())

	start := t0.Add(-time.Hour)
	f := wixsim.NewEmulatorClock(base, start, true)
	base.Advance(time.Hour)
	assert.Equal(t, start, f.Now(), "frozen: stands still")
	assert.Equal(t, start.Add(time.Hour), f.Advance(time.Hour))
	f.Set(at)
	assert.Equal(t, at, f.Now())
	assert.True(t, f.Frozen())
}

func TestAdvanceAndSetTime(t *testing.T) {
	sim, _ := newSim(t)
	require.True(t, sim.Settable())
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "follow-up", TriggerKey: "appointment_scheduled", Offset: 2 * time.Hour}))
	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1), Payload: apptPayload(id(1), t0.Add(72*time.Hour))})

	ran, err := sim.AdvanceContext(context.Background(), time.Hour)
	require.NoError(t, err)
	assert.Empty(t, ran)
	_, err = sim.AdvanceContext(context.Background(), -time.Second)
	assert.ErrorIs(t, err, wixsim.ErrClockBackwards)
	_, err = sim.SetTime(context.Background(), t0)
	assert.ErrorIs(t, err, wixsim.ErrClockBackwards)
	assert.Equal(t, t0.Add(time.Hour), sim.Now(), "a refused move changes nothing")

	ran, err = sim.SetTime(context.Background(), t0.Add(3*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []act{{"follow-up", wixsim.ActivationRan, t0.Add(2 * time.Hour)}}, acts(ran))

	wall := wixsim.New(nil)
	assert.False(t, wall.Settable())
	_, err = wall.AdvanceContext(context.Background(), time.Hour)
	assert.ErrorIs(t, err, wixsim.ErrClockNotSettable)
	_, err = wall.SetTime(context.Background(), time.Now().Add(time.Hour))
	assert.ErrorIs(t, err, wixsim.ErrClockNotSettable)
	assert.Panics(t, func() { wall.Advance(time.Hour) })
}
