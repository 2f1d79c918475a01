package local

// Finished runs read lately are kept in memory (Backend.finished): they never change again
// (every update is guarded by phase IN ('queued', 'running')), so a cached copy cannot go
// stale, and polling a finished run costs a map lookup instead of a query.
const finishedCacheSize = 4096
