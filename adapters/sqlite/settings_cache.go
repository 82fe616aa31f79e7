package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain/site"
)

// Every command reads its site's settings (payloads show local times), and
// for a new booking that read is the only one: a read transaction of its own
// on a read connection, about a sixth of the CPU of a command with 64
// callers. settingsCache keeps what staged Updates read, so that most of
// them read no snapshot at all. Nothing depends on the cache being right: a
// staged Update that read a site's settings (from the cache or from its
// snapshot, which may be older than the writer's state too) adds a
// settingsCheck to its writes, which the writer applies in the same
// transaction as the rest: a version that moved since (another process, or
// another write of this batch, saved the settings) is a conflict, and the
// Update runs again in the writer, where its reads are current. So a
// command never commits with settings older than the ones it commits
// against. Settings a process saves leave the cache when the writer applies
// the save; settings another process saves are found stale by the first
// check that meets them.

// settingsCacheMax bounds the sites the cache holds; a full cache is
// emptied and fills again from the reads that follow.
const settingsCacheMax = 4096

// settingsCache maps a site ID to the settings last read for it; a site
// without settings is cached as absent (version 0).
type settingsCache struct {
	mu    sync.Mutex
	sites map[string]cachedSettings
}

// cachedSettings is what a read found for a site.
type cachedSettings struct {
	snap   site.Snapshot
	absent bool // the site had no settings row
}

func newSettingsCache() *settingsCache {
	return &settingsCache{sites: make(map[string]cachedSettings)}
}

func (c *settingsCache) get(siteID string) (cachedSettings, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sites[siteID]
	return s, ok
}

func (c *settingsCache) put(siteID string, s cachedSettings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sites) >= settingsCacheMax {
		clear(c.sites)
	}
	c.sites[siteID] = s
}

func (c *settingsCache) forget(siteID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sites, siteID)
}

// version is the settings row's version the entry stands for: 0 for none.
func (s cachedSettings) version() int64 {
	if s.absent {
		return 0
	}
	return s.snap.Version
}

// qSettingsVersion reads the version of a site's settings row.
const qSettingsVersion = `SELECT version FROM site_settings WHERE site_id = ?`

// settingsCheck is the writer's check of settings an Update took from the
// cache: the site's settings row must still have version (0: no row).
type settingsCheck struct {
	siteID  string
	version int64
	cache   *settingsCache
}

func (k settingsCheck) apply(c *writeConn) error {
	var v int64
	err := c.QueryRowContext(context.Background(), qSettingsVersion, k.siteID).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		v = 0
	case err != nil:
		return fmt.Errorf("sqlite: check the settings of site %s: %w", k.siteID, err)
	}
	if v == k.version {
		return nil
	}
	k.cache.forget(k.siteID)
	return fmt.Errorf("sqlite: the settings of site %s a command read (version %d) are no longer current: %w",
		k.siteID, k.version, application.ErrConflict)
}
