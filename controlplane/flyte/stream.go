package flyte

import (
	"context"
	"time"

	"connectrpc.com/connect"
)

// The control plane's server-streaming procedures this backend reads: a run's details as
// they change, and an attempt's log lines. Over Connect they are application/connect+json
// with enveloped messages, on the same connections as the unary calls. A stream is bounded by
// its caller's context (the webhook's request, or a wait's deadline) and by the backend's
// Close, each message by max_response_bytes.

const (
	procWatchAction = "/flyteidl2.workflow.RunService/WatchActionDetails"
	procTailLogs    = "/flyteidl2.dataproxy.DataProxyService/TailLogs"
)

type watchActionRequest struct {
	ActionID actionID `json:"actionId"`
}

type watchActionResponse struct {
	Details actionDetails `json:"details"`
}

type tailLogsRequest struct {
	ActionID actionID `json:"actionId"`
	Attempt  uint32   `json:"attempt"`
}

type tailLogsResponse struct {
	Logs []struct {
		Lines []logLine `json:"lines"`
	} `json:"logs"`
}

// logLine is flyteidl2.logs.dataplane.LogLine: the message keeps its line terminator.
type logLine struct {
	Timestamp  *time.Time `json:"timestamp"`
	Message    string     `json:"message"`
	Originator string     `json:"originator"`
}

// streamRPC is one server-streaming procedure.
type streamRPC[Req, Res any] struct {
	procedure string
	client    *connect.Client[Req, Res]
}

func newStreamRPC[Req, Res any](hc connect.HTTPClient, base, procedure string, maxBytes int) streamRPC[Req, Res] {
	return streamRPC[Req, Res]{procedure: procedure, client: connect.NewClient[Req, Res](hc, base+procedure,
		connect.WithCodec(jsonCodec{}), connect.WithReadMaxBytes(maxBytes))}
}

// streams are the streaming procedures (next to the unary ones, procedures).
type streams struct {
	watchAction streamRPC[watchActionRequest, watchActionResponse]
	tailLogs    streamRPC[tailLogsRequest, tailLogsResponse]
}

func newStreams(hc connect.HTTPClient, base string, maxBytes int) streams {
	return streams{
		watchAction: newStreamRPC[watchActionRequest, watchActionResponse](hc, base, procWatchAction, maxBytes),
		tailLogs:    newStreamRPC[tailLogsRequest, tailLogsResponse](hc, base, procTailLogs, maxBytes),
	}
}

// openStream opens a stream with the caller's credentials (as call does) and calls each for
// every message until the stream ends (nil), each returns false, or it fails (an error
// mapped like a unary call's).
func openStream[Req, Res any](ctx context.Context, b *Backend, p streamRPC[Req, Res], msg *Req, each func(*Res) bool) error {
	req := connect.NewRequest(msg)
	if _, err := b.authorize(ctx, req.Header()); err != nil {
		return err
	}
	s, err := p.client.CallServerStream(ctx, req)
	if err != nil {
		return mapError(p.procedure, err)
	}
	defer s.Close()
	for s.Receive() {
		if !each(s.Msg()) {
			return nil
		}
	}
	if err := s.Err(); err != nil {
		return mapError(p.procedure, err)
	}
	return nil
}
