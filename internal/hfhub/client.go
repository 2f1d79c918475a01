package hfhub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Client talks to one Hub. The zero value is not usable: set Endpoint. A Client is safe for
// concurrent use; its fields must not change once it is in use.
type Client struct {
	// Endpoint is the Hub's base URL, e.g. DefaultEndpoint or EndpointFromEnv(); see
	// ValidateEndpoint.
	Endpoint string
	// Transport sends the requests. Defaults to a clone of http.DefaultTransport (so
	// HTTPS_PROXY and friends apply). Redirects are followed by the Client itself, never by
	// the transport.
	Transport http.RoundTripper
	// UserAgent is sent with every request. Defaults to "flyte-webhook-hfhub".
	UserAgent string
	// HeaderTimeout bounds the wait for a response's headers. Defaults to 30s.
	HeaderTimeout time.Duration
	// StallTimeout: a download that receives nothing for this long is cut and resumed.
	// Defaults to 60s.
	StallTimeout time.Duration
	// InfoTimeout bounds the whole file list request, body included. Defaults to 60s.
	InfoTimeout time.Duration
	// MaxInfoBytes caps the file list's JSON. Defaults to 32 MiB.
	MaxInfoBytes int64
	// MaxRedirects bounds the redirects followed for one request. Defaults to 5.
	MaxRedirects int
	// Retries is how often a file's download is tried again after a transient failure (a cut
	// or stalled connection, a 5xx or 429 answer) without progress in between. Defaults to 5.
	Retries int
	// RetryWait is the wait before the first retry; it doubles with each, up to 30s.
	// Defaults to 1s.
	RetryWait time.Duration
}

// withDefaults returns c with its zero fields filled in.
func (c *Client) withDefaults() *Client {
	d := *c
	d.Endpoint = strings.TrimRight(d.Endpoint, "/")
	if d.Transport == nil {
		d.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if d.UserAgent == "" {
		d.UserAgent = "flyte-webhook-hfhub"
	}
	if d.HeaderTimeout <= 0 {
		d.HeaderTimeout = 30 * time.Second
	}
	if d.StallTimeout <= 0 {
		d.StallTimeout = 60 * time.Second
	}
	if d.InfoTimeout <= 0 {
		d.InfoTimeout = 60 * time.Second
	}
	if d.MaxInfoBytes <= 0 {
		d.MaxInfoBytes = 32 << 20
	}
	if d.MaxRedirects <= 0 {
		d.MaxRedirects = 5
	}
	if d.Retries <= 0 {
		d.Retries = 5
	}
	if d.RetryWait <= 0 {
		d.RetryWait = time.Second
	}
	return &d
}

// TokenFunc returns the token for the Hub. A session calls it at most once, and only when
// the Hub has answered that a token is needed.
type TokenFunc func(ctx context.Context) (string, error)

// session is one Snapshot's (or ModelInfo's) conversation with the Hub: the endpoint, and the
// token once it was needed.
type session struct {
	c        *Client
	hc       *http.Client
	endpoint *url.URL

	tokenFn TokenFunc
	mu      sync.Mutex
	asked   bool
	token   string
	tokErr  error
}

func (c *Client) session(tokenFn TokenFunc) (*session, error) {
	if err := ValidateEndpoint(c.Endpoint); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	ep, _ := url.Parse(c.Endpoint)
	hc := &http.Client{
		Transport:     c.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &session{c: c, hc: hc, endpoint: ep, tokenFn: tokenFn}, nil
}

// currentToken is the token to send to the endpoint, "" until one was needed.
func (s *session) currentToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// needToken asks tokenFn for the token, once per session.
func (s *session) needToken(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.asked {
		s.asked = true
		s.token, s.tokErr = s.tokenFn(ctx)
		if s.tokErr == nil && s.token == "" {
			s.tokErr = errors.New("the token is empty")
		}
	}
	return s.token, s.tokErr
}

// answer is a response, with the headers of the endpoint's last answer on the way (a
// redirect's, or the response's own when it came from the endpoint).
type answer struct {
	*http.Response
	hub       http.Header
	tokenSent bool
}

// errStalled cancels a request that waited too long for headers or for data.
var errStalled = errors.New("the connection stalled")

// get sends GET u with hdr. Redirects are followed up to MaxRedirects, to other hosts only
// when crossHost (a file's redirect to the Hub's file store), and only to https (or http on
// a loopback address when the endpoint is http on one). The token goes to the endpoint's
// origin only. An error status is returned as a *HubError; a 401 (or a gated repo's 403)
// without a token asks for the token once and tries again with it. The returned body is
// guarded by a stall timer: see watch.
func (s *session) get(ctx context.Context, u *url.URL, hdr http.Header, what string, crossHost bool) (*answer, error) {
	for {
		a, err := s.follow(ctx, u, hdr, crossHost)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if a.StatusCode < 400 {
			return a, nil
		}
		fromHub := sameOrigin(a.Request.URL, s.endpoint)
		herr := &HubError{Status: a.StatusCode, Code: a.Header.Get("X-Error-Code"), Message: oneLine(a.Header.Get("X-Error-Message")),
			What: what, TokenSent: a.tokenSent, Store: !fromHub}
		drain(a.Body)
		if herr.NeedsToken() && !a.tokenSent && s.tokenFn != nil {
			if _, err := s.needToken(ctx); err != nil {
				return nil, &TokenError{Hub: herr, Err: err}
			}
			continue
		}
		return nil, herr
	}
}

// follow sends the request and its redirects.
func (s *session) follow(ctx context.Context, u *url.URL, hdr http.Header, crossHost bool) (*answer, error) {
	var hub http.Header
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", s.c.UserAgent)
		onHub := sameOrigin(u, s.endpoint)
		sent := false
		if tok := s.currentToken(); tok != "" && onHub {
			req.Header.Set("Authorization", "Bearer "+tok)
			sent = true
		}
		resp, err := s.hc.Do(req)
		if err != nil {
			return nil, err
		}
		if onHub {
			hub = resp.Header
		}
		if !redirect(resp.StatusCode) {
			return &answer{Response: resp, hub: hub, tokenSent: sent}, nil
		}
		loc := resp.Header.Get("Location")
		drain(resp.Body)
		if hops >= s.c.MaxRedirects {
			return nil, fmt.Errorf("%w: more than %d redirects", errRedirect, s.c.MaxRedirects)
		}
		next, err := u.Parse(loc)
		if err != nil || loc == "" {
			return nil, fmt.Errorf("%w: a %d without a valid Location", errRedirect, resp.StatusCode)
		}
		if err := s.allowRedirect(next, crossHost); err != nil {
			return nil, err
		}
		u = next
	}
}

// allowRedirect applies the redirect policy of get.
func (s *session) allowRedirect(next *url.URL, crossHost bool) error {
	switch {
	case next.User != nil:
		return fmt.Errorf("%w: to a URL with user info", errRedirect)
	case !crossHost && !sameOrigin(next, s.endpoint):
		return fmt.Errorf("%w: to another host (%s)", errRedirect, next.Host)
	case next.Scheme == "https":
		return nil
	case next.Scheme == "http" && s.endpoint.Scheme == "http" && loopbackHost(next.Hostname()):
		return nil
	}
	return fmt.Errorf("%w: to %s://%s (only https is followed)", errRedirect, next.Scheme, next.Host)
}

func redirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// sameOrigin compares scheme, host and port (the default port made explicit).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// drain reads a little of an answer we do not use (so its connection can be reused) and
// closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// oneLine bounds a header we quote in an error: one line, at most 300 bytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// transient reports whether err is worth another try: the network, a stall, a 5xx or 429.
func transient(err error) bool {
	var herr *HubError
	if errors.As(err, &herr) {
		return herr.Status >= 500 || herr.Status == http.StatusTooManyRequests
	}
	var nerr net.Error
	return errors.Is(err, errStalled) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &nerr) ||
		errors.Is(err, errShortBody) || errors.Is(err, errRangeIgnored)
}
