package boundedcache_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/internal/boundedcache"
)

// TestBounded: the oldest entries go first once the cache is full, and a second put of a
// key keeps the first value.
func TestBounded(t *testing.T) {
	t.Parallel()
	const size = 4096
	c := boundedcache.New[[]byte](size)
	for i := range size + 10 {
		c.Put("r"+strconv.Itoa(i), []byte(strconv.Itoa(i)))
	}
	if c.Len() != size {
		t.Fatalf("%d entries, want %d", c.Len(), size)
	}
	for i := range 10 {
		if _, ok := c.Get("r" + strconv.Itoa(i)); ok {
			t.Fatalf("r%d should have been evicted", i)
		}
	}
	if b, ok := c.Get("r" + strconv.Itoa(size+9)); !ok || string(b) != strconv.Itoa(size+9) {
		t.Fatal("the newest entry is missing")
	}
	c.Put("r20", []byte("again")) // already there: kept as it was
	if b, _ := c.Get("r20"); string(b) == "again" {
		t.Fatal("a second put replaced a stored value")
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	c := boundedcache.New[int](64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := strconv.Itoa(g*1000 + i)
				c.Put(k, i)
				if v, ok := c.Get(k); ok && v != i {
					t.Errorf("%s = %d, want %d", k, v, i)
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() != 64 {
		t.Fatalf("%d entries, want 64", c.Len())
	}
}
