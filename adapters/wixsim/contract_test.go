package wixsim_test

import (
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/adapters/wixsim/wixsimtest"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/gatewaytest"
)

func TestContractInProcess(t *testing.T) {
	gatewaytest.Run(t, func(t *testing.T) gatewaytest.Harness {
		sim := wixsim.New(fake.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)))
		wixsimtest.RegisterContractTriggers(t, sim)
		return wixsimtest.Harness(sim, sim)
	})
}
