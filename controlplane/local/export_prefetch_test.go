package local

import (
	"time"

	"github.com/flyte-webhook/flyte-webhook/internal/hfhub"
)

// FastHubRetries makes c's prefetches retry a cut download without waiting (the tests' Hub
// cuts connections on purpose).
func FastHubRetries(c *Config) { c.Prefetch.client = &hfhub.Client{RetryWait: time.Millisecond} }
