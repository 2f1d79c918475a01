package local

import "sync"

// finishedCache keeps recently read finished runs in memory: they never change again (every
// update is guarded by phase IN ('queued', 'running')), so a cached copy cannot go stale, and
// polling a finished run costs a map lookup instead of a query. Bounded: when full, an
// arbitrary entry makes room.
type finishedCache struct {
	mu   sync.RWMutex
	runs map[string]runRow
}

const finishedCacheSize = 4096

func (c *finishedCache) get(name string) (runRow, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.runs[name]
	return r, ok
}

func (c *finishedCache) put(r runRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = make(map[string]runRow, finishedCacheSize)
	}
	if len(c.runs) >= finishedCacheSize {
		for k := range c.runs {
			delete(c.runs, k)
			break
		}
	}
	c.runs[r.Name] = r
}
