package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// StreamOptions tunes how WatchRun and FollowRunLogs keep a stream going. The zero value
// (or nil) is the defaults.
type StreamOptions struct {
	// Retries bounds the reconnections in a row that bring no event of the run:
	// a connection that fails, a 503, a stream cut before its end. Defaults to 8; negative
	// means none (the first failure is the error).
	Retries int
	// Backoff is the wait before the first reconnection in a row; it doubles up to
	// MaxBackoff. Defaults to 250ms. A `reconnect` event from the server (it is shutting
	// down) is followed at once by a reconnection, which counts as one of the Retries.
	Backoff time.Duration
	// MaxBackoff caps the wait between reconnections (also a 503's Retry-After). Defaults
	// to 10s.
	MaxBackoff time.Duration
	// IdleTimeout is how long a connection may stay silent (no event, no heartbeat, and
	// before the answer's headers) before it counts as dropped and is replaced. The server
	// sends a heartbeat after 15s of silence by default. Defaults to 60s.
	IdleTimeout time.Duration
}

func (o *StreamOptions) withDefaults() StreamOptions {
	var v StreamOptions
	if o != nil {
		v = *o
	}
	if v.Retries == 0 {
		v.Retries = 8
	}
	if v.Backoff <= 0 {
		v.Backoff = 250 * time.Millisecond
	}
	if v.MaxBackoff <= 0 {
		v.MaxBackoff = 10 * time.Second
	}
	if v.IdleTimeout <= 0 {
		v.IdleTimeout = 60 * time.Second
	}
	return v
}

// WatchRun reads watch_run's event stream of the run: each phase change, attempt start and
// end, log line (with params.Logs), and last the `end` event, after which the sequence
// ends:
//
//	for ev, err := range client.WatchRun(ctx, c, run, nil, nil) {
//		if err != nil { return err }
//		if ev.Type == client.RunEventPhase { fmt.Println(*ev.Phase) }
//	}
//
// It starts after params.LastEventID when set (the Id of an event a caller kept), at the
// run's beginning otherwise. A connection that drops, a `reconnect` event (the server is
// shutting down) and a 503 (too many streams) are followed by a reconnection with the last
// event's id as Last-Event-ID, so the events continue where they stopped with nothing
// repeated or lost, within opts' bounds (StreamOptions). Heartbeats are skipped and
// `reconnect` events are never yielded. A 204 (the run ended and its last event was seen
// already) ends the sequence without an event.
//
// The sequence ends at its first error, yielded with a zero event: the *Problem of an answer
// that is not 2xx but a 503 (see ErrorOf; a 503 is retried after its Retry-After, and is the
// error once the retries are spent), ctx's error when ctx ends (at once: no goroutine is
// left behind), an event that is not a RunEvent, or the last failure once the retries are
// spent. c is a *ClientWithResponses (as New returns) or any ClientInterface. Breaking out of the loop closes
// the stream.
//
// The overall timeout of c's *http.Client (New's DefaultTimeout) would cut every stream
// after it, so streams go through a copy of it without one: StreamOptions.IdleTimeout
// bounds a silent connection instead.
func WatchRun(ctx context.Context, c ClientInterface, name string, params *WatchRunParams, opts *StreamOptions) iter.Seq2[RunEvent, error] {
	var p WatchRunParams
	if params != nil {
		p = *params
	}
	c = streamingClient(c)
	open := func(ctx context.Context, last string) (*http.Response, error) {
		q := p
		if last != "" {
			q.LastEventID = &last
		}
		return c.WatchRun(ctx, name, &q)
	}
	return stream(ctx, "watch_run "+name, deref1(p.LastEventID), opts.withDefaults(), open)
}

// FollowRunLogs follows the run's log (get_run_logs with follow=true): the last
// params.Tail lines as `log` events, then each line as it is written, with
// `attempt_started` and `attempt_ended` between attempts, until the `end` event. It keeps
// the stream going as WatchRun does (params.LastEventID, reconnections, errors). params.Follow
// is set by it; the text answer (without follow) is GetRunLogsWithResponse's Body.
func FollowRunLogs(ctx context.Context, c ClientInterface, name string, params *GetRunLogsParams, opts *StreamOptions) iter.Seq2[RunEvent, error] {
	var p GetRunLogsParams
	if params != nil {
		p = *params
	}
	follow := true
	p.Follow = &follow
	c = streamingClient(c)
	open := func(ctx context.Context, last string) (*http.Response, error) {
		q := p
		if last != "" {
			q.LastEventID = &last
		}
		return c.GetRunLogs(ctx, name, &q)
	}
	return stream(ctx, "get_run_logs "+name, deref1(p.LastEventID), opts.withDefaults(), open)
}

// streamingClient returns c, or a copy of it whose *http.Client has no overall timeout.
func streamingClient(c ClientInterface) ClientInterface {
	if cw, ok := c.(*ClientWithResponses); ok {
		c = cw.ClientInterface
	}
	cl, ok := c.(*Client)
	if !ok {
		return c
	}
	hc, ok := cl.Client.(*http.Client)
	if !ok || hc.Timeout == 0 {
		return c
	}
	cp, hcp := *cl, *hc
	hcp.Timeout = 0
	cp.Client = &hcp
	return &cp
}

// errRetry marks a failure the stream reconnects after (within the retries).
type errRetry struct {
	err   error
	after time.Duration // a Retry-After the server asked for; 0 for the backoff's
}

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

// stream is the loop WatchRun and FollowRunLogs share: connect after the last id, read
// events until the end, reconnect on what can be retried.
func stream(ctx context.Context, what, last string, o StreamOptions, open func(context.Context, string) (*http.Response, error)) iter.Seq2[RunEvent, error] {
	return func(yield func(RunEvent, error) bool) {
		failures := 0
		for {
			ended, progressed, err := connectOnce(ctx, last, o, open, func(ev RunEvent, id string) bool {
				last = id
				return yield(ev, nil)
			})
			switch {
			case ended:
				return
			case ctx.Err() != nil:
				yield(RunEvent{}, fmt.Errorf("%s: %w", what, context.Cause(ctx)))
				return
			}
			if progressed {
				failures = 0
			}
			var retry *errRetry
			if !errors.As(err, &retry) {
				yield(RunEvent{}, fmt.Errorf("%s: %w", what, err))
				return
			}
			if o.Retries < 0 || failures >= o.Retries {
				yield(RunEvent{}, fmt.Errorf("%s: gave up after %d reconnections: %w", what, failures, retry.err))
				return
			}
			// The first reconnection after events is at once (a server shutting down is
			// most likely replaced already); then the backoff's.
			wait := retry.after
			if wait == 0 && !progressed {
				wait = min(o.Backoff<<min(failures, 20), o.MaxBackoff)
			}
			failures++
			if wait > 0 {
				t := time.NewTimer(min(wait, o.MaxBackoff))
				select {
				case <-ctx.Done():
					t.Stop()
					yield(RunEvent{}, fmt.Errorf("%s: %w", what, context.Cause(ctx)))
					return
				case <-t.C:
				}
			}
		}
	}
}

// errStopped is connectOnce's answer when the caller broke out of its loop.
var errStopped = errors.New("the caller stopped")

// connectOnce opens one connection and passes its events to emit (with the id to resume
// after). ended is true when nothing more is to come (the end event, a 204, or emit said
// stop); progressed when the connection brought an event of the run; err says why it
// stopped otherwise (an *errRetry when a reconnection may help).
func connectOnce(ctx context.Context, last string, o StreamOptions, open func(context.Context, string) (*http.Response, error),
	emit func(RunEvent, string) bool) (ended, progressed bool, err error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errIdle := fmt.Errorf("no event or heartbeat within %s", o.IdleTimeout)
	idle := time.AfterFunc(o.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()

	res, err := open(cctx, last)
	if err != nil {
		if errors.Is(context.Cause(cctx), errIdle) {
			err = errIdle
		}
		return false, false, &errRetry{err: err}
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNoContent:
		return true, false, nil
	case res.StatusCode == http.StatusServiceUnavailable:
		return false, false, &errRetry{err: problemOf(res), after: retryAfter(res.Header)}
	case res.StatusCode < 200 || res.StatusCode > 299:
		return false, false, problemOf(res)
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, false, fmt.Errorf("unexpected %q answer, want text/event-stream", res.Header.Get("Content-Type"))
	}
	r := newSSEReader(res.Body, last)
	r.touch = func() { idle.Reset(o.IdleTimeout) }
	for {
		sev, err := r.next()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return false, progressed, ctx.Err()
		case err == io.EOF:
			return false, progressed, &errRetry{err: errors.New("the stream ended before the run's end event")}
		case errors.Is(context.Cause(cctx), errIdle):
			return false, progressed, &errRetry{err: errIdle}
		case errors.Is(err, bufio.ErrTooLong):
			return false, progressed, fmt.Errorf("an event longer than %d bytes", maxEventBytes)
		default:
			return false, progressed, &errRetry{err: err}
		}
		var ev RunEvent
		if err := json.Unmarshal([]byte(sev.data), &ev); err != nil {
			return false, progressed, fmt.Errorf("event %q (id %q): data is not a RunEvent: %w", sev.typ, sev.id, err)
		}
		if ev.Type == RunEventReconnect {
			return false, progressed, &errRetry{err: fmt.Errorf("the server asked to reconnect: %s", deref1(ev.Detail))}
		}
		if ev.Id == nil && sev.hasID {
			id := sev.id
			ev.Id = &id
		}
		progressed = true
		if !emit(ev, sev.id) {
			return true, true, errStopped
		}
		if ev.Type == RunEventEnd {
			return true, true, nil
		}
	}
}

// problemOf reads an error answer (up to 64 KiB) into its *Problem.
func problemOf(res *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return ProblemOf(rawResult{status: res.StatusCode, contentType: res.Header.Get("Content-Type"), body: body})
}

type rawResult struct {
	status      int
	contentType string
	body        []byte
}

func (r rawResult) StatusCode() int     { return r.status }
func (r rawResult) ContentType() string { return r.contentType }
func (r rawResult) GetBody() []byte     { return r.body }

// retryAfter reads a Retry-After in seconds (0 when absent or a date).
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

func deref1[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
