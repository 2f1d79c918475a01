// Package boundedcache keeps values that never change once stored (a finished run, its
// encoded answer), up to a fixed number: when full, the oldest entry makes room. Safe for
// concurrent use; reads share a lock.
package boundedcache

import "sync"

// Cache maps keys to values, at most size of them.
type Cache[V any] struct {
	mu   sync.RWMutex
	byID map[string]V
	ring []string // insertion order; ring[next] is the oldest once the ring is full
	next int
}

// New returns a Cache holding at most size entries (size ≥ 1).
func New[V any](size int) *Cache[V] {
	return &Cache[V]{byID: make(map[string]V, size), ring: make([]string, size)}
}

func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.byID[key]
	return v, ok
}

// Put stores v under key unless key is there already (a stored value never changes).
func (c *Cache[V]) Put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[key]; ok {
		return
	}
	if old := c.ring[c.next]; old != "" {
		delete(c.byID, old)
	}
	c.ring[c.next] = key
	c.next = (c.next + 1) % len(c.ring)
	c.byID[key] = v
}

// Delete forgets key (a value that no longer exists, say a deleted run). Deletes are rare:
// this walks the ring.
func (c *Cache[V]) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[key]; !ok {
		return
	}
	delete(c.byID, key)
	for i, k := range c.ring {
		if k == key {
			c.ring[i] = ""
		}
	}
}

// Len is how many entries are held.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byID)
}
