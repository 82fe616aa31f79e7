package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wake-ups across the fleet. A commit that queued calls (a command, an
// operator's retry, a relay releasing its leases) marks the store changed;
// a notifier goroutine then sends one NOTIFY on the schema's channel, at
// most one per notify interval, on a pool connection in its own statement:
// never inside the command's transaction, whose commit would otherwise
// take PostgreSQL's global notify lock. A listener goroutine holds a
// dedicated connection outside the pool, LISTENs, and passes every
// notification to the channels Changes returned; after it (re)connects it
// passes one too, since notifications sent while it was away are lost. The
// relay's own poll stays the fallback. In poll-only mode (WithPollOnly,
// for transaction-pooling proxies) there is no NOTIFY and no LISTEN:
// Changes ticks every poll interval.

// waker is the store's wake-ups.
type waker struct {
	s      *Store
	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func startWaker(s *Store) *waker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &waker{s: s, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel, subs: map[chan struct{}]struct{}{}}
	if s.cfg.pollOnly {
		w.wg.Add(1)
		go w.tick()
		return w
	}
	w.wg.Add(2)
	go w.notify()
	go w.listen()
	return w
}

// stop ends the goroutines and closes every channel Changes returned.
func (w *waker) stop() {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs {
		close(ch)
		delete(w.subs, ch)
	}
}

// changed marks the store changed: a NOTIFY follows soon.
func (w *waker) changed() {
	if w.s.cfg.pollOnly {
		return
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// notify sends one NOTIFY per burst of changes, at most one per notify
// interval.
func (w *waker) notify() {
	defer w.wg.Done()
	var last time.Time
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.kick:
		}
		if d := w.s.cfg.notifyEvery - time.Since(last); d > 0 {
			select {
			case <-w.ctx.Done():
				return
			case <-time.After(d):
			}
		}
		select { // changes made while waiting are announced by this NOTIFY
		case <-w.kick:
		default:
		}
		ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		_, _ = w.s.pool.Exec(ctx, `SELECT pg_notify($1, '')`, w.s.channel) // lost: the relays' poll finds the calls
		cancel()
		last = time.Now()
	}
}

// listen keeps a LISTEN connection outside the pool and broadcasts every
// notification, and one after each (re)connection.
func (w *waker) listen() {
	defer w.wg.Done()
	for w.ctx.Err() == nil {
		w.listenOnce()
		select {
		case <-w.ctx.Done():
			return
		case <-time.After(w.s.cfg.pollInterval):
		}
	}
}

func (w *waker) listenOnce() {
	conn, err := pgx.ConnectConfig(w.ctx, w.s.connCfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(w.ctx, `LISTEN `+pgx.Identifier{w.s.channel}.Sanitize()); err != nil {
		return
	}
	w.broadcast()
	for {
		if _, err := conn.WaitForNotification(w.ctx); err != nil {
			return
		}
		w.broadcast()
	}
}

// tick broadcasts every poll interval (poll-only mode).
func (w *waker) tick() {
	defer w.wg.Done()
	t := time.NewTicker(w.s.cfg.pollInterval)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
			w.broadcast()
		}
	}
}

// broadcast wakes every subscriber; wake-ups coalesce.
func (w *waker) broadcast() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Changes returns a channel that receives a value soon after any instance
// of the fleet commits calls to this database (or, in poll-only mode, every
// poll interval), and once whenever the listener (re)connects. Values
// coalesce: a receiver that was busy finds one waiting. The channel is
// closed when ctx ends or the store is closed. A relay waits on it beside
// its own poll (the relay's Watcher).
func (s *Store) Changes(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	w := s.wake
	w.mu.Lock()
	if w.ctx.Err() != nil {
		w.mu.Unlock()
		close(ch)
		return ch
	}
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-w.ctx.Done():
			return // stop closes it
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.subs[ch]; ok {
			delete(w.subs, ch)
			close(ch)
		}
	}()
	return ch
}
