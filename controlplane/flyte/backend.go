package flyte

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Backend drives a Flyte 2 control plane. Open one with Open; it is safe for concurrent use
// and holds pooled connections until Close.
type Backend struct {
	controlplane.Unimplemented
	cfg   Config
	log   *slog.Logger
	hc    *http.Client // control plane
	apps  *http.Client // call_app targets
	p     procedures
	s     streams       // the server-streaming procedures (see stream.go)
	token *serviceToken // nil without a service identity

	identities *ttlCache[controlplane.Identity]
	tasks      *ttlCache[*task]
	latest     *ttlCache[string] // "latest" → the version it was
	endpoints  *ttlCache[appInfo]
	forward    map[string]bool
	searched   []Scope // where a run named without a project and domain is looked up

	mu        sync.Mutex
	inflight  int
	closing   bool
	idle      chan struct{} // closed when closing and inflight reaches 0
	closeDone chan struct{} // closed when the first Close returns
	closeErr  error
}

var (
	_ controlplane.Backend = (*Backend)(nil)
	_ controlplane.Closer  = (*Backend)(nil)
)

// Open checks cfg and returns a Backend. It does not call the control plane, except to
// discover the token endpoint of a service identity configured without token_url: when the
// control plane answers that it publishes none, Open fails naming the key to set.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hc, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		cfg:        cfg,
		log:        cfg.Logger,
		hc:         hc,
		p:          newProcedures(hc, cfg.Endpoint, cfg.MaxResponseBytes),
		s:          newStreams(hc, cfg.Endpoint, cfg.MaxResponseBytes),
		identities: newTTLCache[controlplane.Identity](cfg.CacheTTL, cfg.CacheSize),
		tasks:      newTTLCache[*task](cfg.CacheTTL, cfg.CacheSize),
		latest:     newTTLCache[string](cfg.CacheTTL, cfg.CacheSize),
		endpoints:  newTTLCache[appInfo](cfg.CacheTTL, cfg.CacheSize),
		forward:    map[string]bool{},
		searched:   searchOrder(cfg),
		idle:       make(chan struct{}),
		closeDone:  make(chan struct{}),
	}
	b.Unimplemented = controlplane.Unimplemented{Backend: "the flyte backend", Authenticate: func(ctx context.Context) error {
		_, err := b.identity(ctx, true)
		return err
	}}
	b.apps = &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // an app's redirect is its answer, not ours to follow
		},
	}
	for _, name := range cfg.ForwardCredentialsApps {
		b.forward[name] = true
	}
	if si := cfg.ServiceIdentity; si != nil {
		b.token = newServiceToken(*si, &http.Client{Transport: hc.Transport, Timeout: cfg.Timeout}, b.log, b.discoverTokenURL)
		if si.TokenURL == "" {
			dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			u, err := b.discoverTokenURL(dctx)
			cancel()
			switch {
			case controlplane.CodeOf(err) == controlplane.CodeUnimplemented:
				return nil, fmt.Errorf("flyte.service_identity.token_url: required: %s", controlplane.MessageOf(err))
			case err != nil:
				// The control plane may not be up yet: discover again at the first token.
				b.log.WarnContext(ctx, "cannot discover the token endpoint yet", slog.String("error", err.Error()))
			default:
				b.token.tokenURL = u
			}
		}
	}
	return b, nil
}

// discoverTokenURL asks the control plane for its OAuth2 token endpoint (anonymously).
func (b *Backend) discoverTokenURL(ctx context.Context) (string, error) {
	res, err := b.p.oauth2Metadata.client.CallUnary(ctx, connect.NewRequest(&oauth2MetadataRequest{}))
	if err != nil {
		err = mapError(procOAuth2Metadata, err)
		if controlplane.CodeOf(err) == controlplane.CodeUnimplemented {
			return "", controlplane.Wrap(controlplane.CodeUnimplemented, err,
				"the control plane publishes no OAuth2 metadata (GetOAuth2Metadata is unimplemented): set the token endpoint")
		}
		return "", err
	}
	if res.Msg.TokenEndpoint == "" {
		return "", controlplane.Errorf(controlplane.CodeUnimplemented,
			"the control plane's OAuth2 metadata names no token endpoint: set the token endpoint")
	}
	return res.Msg.TokenEndpoint, nil
}

// Close stops taking calls, waits for those in progress until ctx ends, and releases the
// pooled connections. A second Close waits for the first and returns its result.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		<-b.closeDone
		return b.closeErr
	}
	b.closing = true
	if b.inflight == 0 {
		close(b.idle)
	}
	b.mu.Unlock()
	select {
	case <-b.idle:
	case <-ctx.Done():
		b.closeErr = ctx.Err()
	}
	b.hc.CloseIdleConnections()
	b.apps.CloseIdleConnections()
	close(b.closeDone)
	return b.closeErr
}

// enter counts a call in progress; the returned func ends it.
func (b *Backend) enter() (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil, controlplane.Errorf(controlplane.CodeUnavailable, "the flyte backend is shutting down")
	}
	b.inflight++
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.inflight--
		if b.closing && b.inflight == 0 {
			close(b.idle)
		}
	}, nil
}

// Me asks the control plane who the credentials stand for.
func (b *Backend) Me(ctx context.Context) (controlplane.Identity, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.Identity{}, err
	}
	defer leave()
	return b.identity(ctx, false)
}

// identity returns the caller's identity, from the cache when cached is true and it is
// there. The key is a hash of the credentials, so a caller never gets another's answer.
func (b *Backend) identity(ctx context.Context, cached bool) (controlplane.Identity, error) {
	key := credentialsKey(ctx)
	if cached {
		if id, ok := b.identities.get(key); ok {
			controlplane.ReportCaller(ctx, id)
			return id, nil
		}
	}
	res, err := call(ctx, b, b.p.userInfo, &userInfoRequest{})
	if err != nil {
		return controlplane.Identity{}, err
	}
	if res.Subject == "" {
		return controlplane.Identity{}, controlplane.Errorf(controlplane.CodeUnauthenticated, "the control plane knows no subject for these credentials")
	}
	id := controlplane.Identity{Subject: res.Subject, Name: displayName(res)}
	b.identities.put(key, id)
	controlplane.ReportCaller(ctx, id)
	return id, nil
}

// displayName is the name, else the given and family names, else the email, else the
// subject.
func displayName(u *userInfoResponse) string {
	if u.Name != "" {
		return u.Name
	}
	if n := strings.TrimSpace(u.GivenName + " " + u.FamilyName); n != "" {
		return n
	}
	if u.Email != "" {
		return u.Email
	}
	return u.Subject
}

// credentialsKey identifies the caller's credentials in the caches, without keeping them.
func credentialsKey(ctx context.Context) string {
	c := controlplane.CredentialsFrom(ctx)
	sum := sha256.Sum256([]byte(c.Authorization + "\x00" + c.Cookie))
	return hex.EncodeToString(sum[:16])
}

// runURL is where to look at a run: its console page, or the webhook's own /run/{name}.
func (b *Backend) runURL(project, domain, name string) string {
	if b.cfg.ConsoleURL != "" {
		return b.cfg.ConsoleURL + "/v2/domain/" + url.PathEscape(domain) + "/project/" + url.PathEscape(project) + "/runs/" + url.PathEscape(name)
	}
	return b.cfg.BaseURL + "/run/" + url.PathEscape(name)
}

// appURL is where to look at an app: its console page, or the webhook's own /app/{name}.
func (b *Backend) appURL(project, domain, name string) string {
	if b.cfg.ConsoleURL != "" {
		return b.cfg.ConsoleURL + "/v2/domain/" + url.PathEscape(domain) + "/project/" + url.PathEscape(project) + "/apps/" + url.PathEscape(name)
	}
	return b.cfg.BaseURL + "/app/" + url.PathEscape(name)
}

// scope returns the project and domain to use, the configured ones for "".
func (b *Backend) scope(project, domain string) (string, string) {
	if project == "" {
		project = b.cfg.Project
	}
	if domain == "" {
		domain = b.cfg.Domain
	}
	return project, domain
}
