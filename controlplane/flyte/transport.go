package flyte

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// jsonCodec is a Connect codec named "json" (Content-Type application/json) over this
// package's own message structs: encoding/json, numbers kept as json.Number where a field is
// untyped.
type jsonCodec struct{}

func (jsonCodec) Name() string { return "json" }

func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec) Unmarshal(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil // an empty message may come as no bytes at all
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// rpc is one unary procedure of the control plane.
type rpc[Req, Res any] struct {
	procedure string
	client    *connect.Client[Req, Res]
}

func newRPC[Req, Res any](hc connect.HTTPClient, base, procedure string, maxBytes int) rpc[Req, Res] {
	return rpc[Req, Res]{
		procedure: procedure,
		client: connect.NewClient[Req, Res](hc, base+procedure,
			connect.WithCodec(jsonCodec{}), connect.WithReadMaxBytes(maxBytes)),
	}
}

// procedures are the control plane's procedures this backend calls.
type procedures struct {
	userInfo       rpc[userInfoRequest, userInfoResponse]
	oauth2Metadata rpc[oauth2MetadataRequest, oauth2MetadataResponse]
	getTask        rpc[getTaskDetailsRequest, getTaskDetailsResponse]
	listTasks      rpc[listTasksRequest, listTasksResponse]
	createRun      rpc[createRunRequest, createRunResponse]
	getRun         rpc[getRunDetailsRequest, getRunDetailsResponse]
	listRuns       rpc[listRunsRequest, listRunsResponse]
	abortRun       rpc[abortRunRequest, empty]
	getActionData  rpc[getActionDataRequest, getActionDataResponse]
	getTrigger     rpc[getTriggerDetailsRequest, getTriggerDetailsResponse]
	updateTriggers rpc[updateTriggersRequest, empty]
	getApp         rpc[getAppRequest, getAppResponse]
	updateApp      rpc[updateAppRequest, updateAppResponse]
}

// The procedures' paths, as Connect names them.
const (
	procUserInfo       = "/flyteidl2.auth.IdentityService/UserInfo"
	procOAuth2Metadata = "/flyteidl2.auth.AuthMetadataService/GetOAuth2Metadata"
	procGetTask        = "/flyteidl2.task.TaskService/GetTaskDetails"
	procListTasks      = "/flyteidl2.task.TaskService/ListTasks"
	procCreateRun      = "/flyteidl2.workflow.RunService/CreateRun"
	procGetRun         = "/flyteidl2.workflow.RunService/GetRunDetails"
	procListRuns       = "/flyteidl2.workflow.RunService/ListRuns"
	procAbortRun       = "/flyteidl2.workflow.RunService/AbortRun"
	procGetActionData  = "/flyteidl2.dataproxy.DataProxyService/GetActionData"
	procGetTrigger     = "/flyteidl2.trigger.TriggerService/GetTriggerDetails"
	procUpdateTriggers = "/flyteidl2.trigger.TriggerService/UpdateTriggers"
	procGetApp         = "/flyteidl2.app.AppService/Get"
	procUpdateApp      = "/flyteidl2.app.AppService/Update"
)

func newProcedures(hc connect.HTTPClient, base string, maxBytes int) procedures {
	return procedures{
		userInfo:       newRPC[userInfoRequest, userInfoResponse](hc, base, procUserInfo, maxBytes),
		oauth2Metadata: newRPC[oauth2MetadataRequest, oauth2MetadataResponse](hc, base, procOAuth2Metadata, maxBytes),
		getTask:        newRPC[getTaskDetailsRequest, getTaskDetailsResponse](hc, base, procGetTask, maxBytes),
		listTasks:      newRPC[listTasksRequest, listTasksResponse](hc, base, procListTasks, maxBytes),
		createRun:      newRPC[createRunRequest, createRunResponse](hc, base, procCreateRun, maxBytes),
		getRun:         newRPC[getRunDetailsRequest, getRunDetailsResponse](hc, base, procGetRun, maxBytes),
		listRuns:       newRPC[listRunsRequest, listRunsResponse](hc, base, procListRuns, maxBytes),
		abortRun:       newRPC[abortRunRequest, empty](hc, base, procAbortRun, maxBytes),
		getActionData:  newRPC[getActionDataRequest, getActionDataResponse](hc, base, procGetActionData, maxBytes),
		getTrigger:     newRPC[getTriggerDetailsRequest, getTriggerDetailsResponse](hc, base, procGetTrigger, maxBytes),
		updateTriggers: newRPC[updateTriggersRequest, empty](hc, base, procUpdateTriggers, maxBytes),
		getApp:         newRPC[getAppRequest, getAppResponse](hc, base, procGetApp, maxBytes),
		updateApp:      newRPC[updateAppRequest, updateAppResponse](hc, base, procUpdateApp, maxBytes),
	}
}

// call makes one unary call with the caller's credentials (or the service identity's token
// for a caller without any), bounded by the configured timeout. Errors are *controlplane.Error
// with generic messages (see mapError); a method that knows what was not found says so.
func call[Req, Res any](ctx context.Context, b *Backend, p rpc[Req, Res], msg *Req) (*Res, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req := connect.NewRequest(msg)
	usedService, err := b.authorize(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	res, err := p.client.CallUnary(ctx, req)
	if err != nil && usedService && connect.CodeOf(err) == connect.CodeUnauthenticated {
		// A revoked or rotated token: fetch a new one, and try once more with it.
		b.token.invalidate()
		req = connect.NewRequest(msg)
		if _, err := b.authorize(ctx, req.Header()); err != nil {
			return nil, err
		}
		res, err = p.client.CallUnary(ctx, req)
	}
	if err != nil {
		err = mapError(p.procedure, err)
		if controlplane.CodeOf(err) == controlplane.CodeUnimplemented && p.procedure != procUserInfo {
			// A service the control plane does not mount answers before it looks at the
			// credentials; the webhook promises to refuse unknown callers first.
			if _, idErr := b.identity(ctx, true); controlplane.CodeOf(idErr) == controlplane.CodeUnauthenticated {
				return nil, idErr
			}
		}
		return nil, err
	}
	return res.Msg, nil
}

// authorize sets the credentials of a call: the caller's Authorization and Cookie headers as
// they came, or, for a caller without either, the service identity's bearer token. It reports
// whether the service identity was used.
func (b *Backend) authorize(ctx context.Context, h http.Header) (bool, error) {
	creds := controlplane.CredentialsFrom(ctx)
	if !creds.Empty() {
		if creds.Authorization != "" {
			h.Set("Authorization", creds.Authorization)
		}
		if creds.Cookie != "" {
			h.Set("Cookie", creds.Cookie)
		}
		return false, nil
	}
	if b.token == nil {
		return false, nil
	}
	tok, err := b.token.get(ctx)
	if err != nil {
		return false, err
	}
	h.Set("Authorization", "Bearer "+tok)
	return true, nil
}

// newHTTPClient returns the one client every call to the control plane shares: HTTP/2 over
// TLS for https, HTTP/1.1 with keep-alive for http (Connect's unary calls work over both).
func newHTTPClient(cfg Config) (*http.Client, error) {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if cfg.TLS != (TLSConfig{}) {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLS.ServerName, InsecureSkipVerify: cfg.TLS.InsecureSkipVerify} //nolint:gosec // only when the config asks for it
		if cfg.TLS.CAFile != "" {
			pem, err := os.ReadFile(cfg.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("flyte.tls.ca_file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("flyte.tls.ca_file: %s holds no PEM certificate", cfg.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	return &http.Client{Transport: tr}, nil
}
