package memory_test

import (
	"testing"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outboxtest"
	"github.com/bookable/lifecycle/application/ratetest"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/application/storetest"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		s := memory.New()
		return storetest.Harness{Store: s, Outbox: s}
	})
}

func TestOutboxContract(t *testing.T) {
	outboxtest.Run(t, outboxtest.Features{}, func(t *testing.T) (application.Store, application.Outbox) {
		s := memory.New()
		return s, s
	})
}

func TestRateStoreContract(t *testing.T) {
	ratetest.Run(t, func(t *testing.T) (relay.RateStore, relay.RateStore) {
		s := memory.New()
		return s, s
	})
}
