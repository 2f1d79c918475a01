package flyte

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// serviceToken is the service identity's bearer token: fetched with the client credentials
// grant, cached, and replaced refresh_before its expiry. A failed fetch is CodeUnavailable
// while no valid token is left, and is retried on the next call.
type serviceToken struct {
	cfg      ServiceIdentity
	hc       *http.Client
	log      *slog.Logger
	discover func(ctx context.Context) (string, error)
	now      func() time.Time

	mu       sync.Mutex // held while a token is fetched: one fetch at a time
	tok      *oauth2.Token
	tokenURL string
}

func newServiceToken(cfg ServiceIdentity, hc *http.Client, log *slog.Logger, discover func(context.Context) (string, error)) *serviceToken {
	return &serviceToken{cfg: cfg, hc: hc, log: log, discover: discover, now: time.Now, tokenURL: cfg.TokenURL}
}

// get returns a valid access token, fetching one when the cached one is missing or due.
func (s *serviceToken) get(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh() {
		return s.tok.AccessToken, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		if s.tok != nil && (s.tok.Expiry.IsZero() || s.now().Before(s.tok.Expiry)) {
			// Not yet expired: keep using it, and try again on the next call.
			s.log.WarnContext(ctx, "cannot refresh the service identity's token; using the current one until it expires",
				slog.String("error", err.Error()), slog.Time("expiry", s.tok.Expiry))
			return s.tok.AccessToken, nil
		}
		s.log.ErrorContext(ctx, "cannot get a token for the service identity", slog.String("error", err.Error()))
		var ce *controlplane.Error
		if errors.As(err, &ce) {
			return "", err
		}
		return "", controlplane.Wrap(controlplane.CodeUnavailable, err, "the webhook's service identity cannot get a token")
	}
	s.tok = tok
	return tok.AccessToken, nil
}

// fresh reports whether the cached token can be used without a refresh.
func (s *serviceToken) fresh() bool {
	if s.tok == nil || s.tok.AccessToken == "" {
		return false
	}
	return s.tok.Expiry.IsZero() || s.now().Add(s.cfg.RefreshBefore).Before(s.tok.Expiry)
}

func (s *serviceToken) fetch(ctx context.Context) (*oauth2.Token, error) {
	if s.tokenURL == "" {
		u, err := s.discover(ctx)
		if err != nil {
			return nil, err
		}
		s.tokenURL = u
	}
	secret, err := s.secret()
	if err != nil {
		return nil, err
	}
	cc := clientcredentials.Config{
		ClientID: s.cfg.ClientID, ClientSecret: secret, TokenURL: s.tokenURL, Scopes: s.cfg.Scopes,
	}
	if s.cfg.Audience != "" {
		cc.EndpointParams = map[string][]string{"audience": {s.cfg.Audience}}
	}
	return cc.Token(context.WithValue(ctx, oauth2.HTTPClient, s.hc))
}

// secret reads the client secret where the config says it is. The file is read at each
// fetch, so a rotated secret is used from the next refresh on.
func (s *serviceToken) secret() (string, error) {
	if s.cfg.ClientSecretFile != "" {
		b, err := os.ReadFile(s.cfg.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("flyte.service_identity.client_secret_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	v := os.Getenv(s.cfg.ClientSecretEnv)
	if v == "" {
		return "", fmt.Errorf("flyte.service_identity.client_secret_env: %s is empty or not set", s.cfg.ClientSecretEnv)
	}
	return v, nil
}

// invalidate drops the cached token, after the control plane refused it.
func (s *serviceToken) invalidate() {
	s.mu.Lock()
	s.tok = nil
	s.mu.Unlock()
}
