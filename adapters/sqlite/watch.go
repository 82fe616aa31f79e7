package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// WatchInterval is how often Changes looks for commits of other
// connections and processes.
const WatchInterval = 50 * time.Millisecond

// Changes returns a channel that receives a value soon after anything
// commits to the database, in this process or another (a `lifecycle serve`
// beside a `lifecycle relay` on one file): it reads PRAGMA data_version, which
// SQLite changes for a connection whenever another connection commits, every
// WatchInterval on a connection of its own. It is the cheap cross-process
// hint a relay waits on beside its poll (relay.Config.Watcher): a
// call committed by another process is claimed within about WatchInterval
// instead of PollInterval. Values coalesce; the channel is closed when ctx
// ends or the database is closed.
func (db *DB) Changes(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		// A connection of its own, outside the read pool, which it would
		// otherwise take a connection from for as long as it watches.
		pool, err := sql.Open("sqlite", db.dsn(true))
		if err != nil {
			return
		}
		defer pool.Close()
		conn, err := pool.Conn(ctx)
		if err != nil {
			return
		}
		defer conn.Close()
		var last int64
		first := true
		tick := time.NewTicker(WatchInterval)
		defer tick.Stop()
		for {
			var v int64
			if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
				if ctx.Err() != nil || db.w.closed() {
					return
				}
			} else if !first && v != last {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
			last, first = v, false
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if db.w.closed() {
				return
			}
		}
	}()
	return ch
}
