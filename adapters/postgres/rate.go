package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The per-site Wix rate limit holds for the whole fleet: each site's GCRA
// theoretical arrival time (TAT) is a row of site_rate, and every relay
// reads and moves it under the row's lock, so that the requests of all
// relays to one site count against one limit. The rule (how far a TAT may
// run ahead, how much a request moves it) is the relay's; the store only
// keeps the TAT atomically.

const (
	qRateRow  = `INSERT INTO site_rate (site_id) VALUES ($1) ON CONFLICT (site_id) DO NOTHING`
	qRateLock = `SELECT tat FROM site_rate WHERE site_id = $1 FOR UPDATE`
	qRateSet  = `UPDATE site_rate SET tat = $2 WHERE site_id = $1`
)

// Throttle reads the site's theoretical arrival time under a row lock (the
// zero time for a site that never sent), calls fn with it, and stores the
// time fn returns when spend is true, all in one transaction: no other
// relay of the fleet reads the site's TAT between. fn runs while the row is
// locked, so it must be quick and do no I/O. An error of the database
// leaves the TAT as it was. timestamptz keeps microseconds: a finer next is
// rounded up, so that the limit is never loosened.
func (s *Store) Throttle(ctx context.Context, siteID string, fn func(tat time.Time) (next time.Time, spend bool)) error {
	if s.isClosed() {
		return ErrClosed
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: throttle site %s: %w", siteID, err)
	}
	defer conn.Release()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(qRateRow, siteID)
		b.Queue(qRateLock, siteID)
		br := tx.SendBatch(ctx, b)
		var tat pgtype.Timestamptz
		_, err := br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&tat)
		}
		if err := errors.Join(err, br.Close()); err != nil {
			return err
		}
		next, spend := fn(fromTS(tat))
		if !spend {
			return nil
		}
		_, err = tx.Exec(ctx, qRateSet, siteID, ts(ceilMicro(next)))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: throttle site %s: %w", siteID, err)
	}
	return nil
}

// ceilMicro rounds t up to the microsecond.
func ceilMicro(t time.Time) time.Time {
	if c := t.Truncate(time.Microsecond); c.Before(t) {
		return c.Add(time.Microsecond)
	}
	return t
}
