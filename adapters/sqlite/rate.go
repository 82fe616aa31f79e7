package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The per-site Wix rate limit holds for every process on the file: each
// site's GCRA theoretical arrival time (TAT) is a row of site_rates, read and
// moved in one write transaction (SQLite runs one writer at a time across
// processes), so that the requests of every relay on the file count against
// one limit. The rule is the relay's (relay.RateLimiter); the store
// only keeps the TAT atomically.

const (
	qRateGet = `SELECT tat_us FROM site_rates WHERE site_id = ?`
	qRatePut = `INSERT INTO site_rates (site_id, tat_us) VALUES (?, ?)
		ON CONFLICT (site_id) DO UPDATE SET tat_us = excluded.tat_us`
)

// Throttle implements relay.RateStore: it reads the site's TAT (the
// zero time for a site that never sent), calls fn with it and stores what fn
// returns when spend is true, in one write transaction. Times are kept in
// microseconds; a finer next is rounded up, so that the limit is never
// loosened. fn runs in the writer, so it must be quick and do no I/O.
func (db *DB) Throttle(ctx context.Context, siteID string, fn func(tat time.Time) (next time.Time, spend bool)) error {
	err := db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
		var us int64
		var tat time.Time
		switch err := c.QueryRowContext(ctx, qRateGet, siteID).Scan(&us); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			tat = time.UnixMicro(us).UTC()
		}
		next, spend := fn(tat)
		if !spend {
			return nil
		}
		_, err := c.ExecContext(ctx, qRatePut, siteID, ceilMicros(next))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: throttle site %s: %w", siteID, err)
	}
	return nil
}

// ceilMicros is t in unix microseconds, rounded up.
func ceilMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}
