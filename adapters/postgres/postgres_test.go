package postgres_test

import (
	"testing"

	"github.com/bookable/lifecycle/adapters/postgres/pgtest"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outboxtest"
	"github.com/bookable/lifecycle/application/ratetest"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/application/storetest"
)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		s := pgtest.Open(t)
		return storetest.Harness{Store: s, Outbox: s}
	})
}

func TestOutboxContract(t *testing.T) {
	t.Parallel()
	outboxtest.Run(t, outboxtest.Features{}, func(t *testing.T) (application.Store, application.Outbox) {
		s := pgtest.Open(t)
		return s, s
	})
}

func TestRateStoreContract(t *testing.T) {
	t.Parallel()
	ratetest.Run(t, func(t *testing.T) (relay.RateStore, relay.RateStore) {
		schema := pgtest.Schema(t)
		return instance(t, schema), instance(t, schema)
	})
}
