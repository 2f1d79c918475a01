package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// DefaultTimeout bounds each request of a client made by New, unless WithHTTPClient or
// WithTimeout says otherwise. Long waits (activate_app with wait=true) may need more.
const DefaultTimeout = 30 * time.Second

// New returns a client for the webhook at baseURL (e.g. "http://127.0.0.1:8080"; a path
// prefix is kept) that sends token as an "Authorization: Bearer" header on every request.
// An empty token sends no Authorization header (health needs none; cookies can be added with
// WithRequestEditorFn).
//
// By default requests go through an *http.Client with DefaultTimeout. Options are applied
// after that default, in order: WithHTTPClient replaces the HTTP client, WithTimeout changes
// the timeout of the current one, WithRequestEditorFn adds headers to every request.
//
// New fails when baseURL is not an absolute http or https URL.
func New(baseURL, token string, opts ...ClientOption) (*ClientWithResponses, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want an absolute http or https URL", baseURL)
	}
	all := make([]ClientOption, 0, len(opts)+2)
	all = append(all, WithHTTPClient(&http.Client{Timeout: DefaultTimeout}))
	if token != "" {
		all = append(all, WithRequestEditorFn(bearer(token)))
	}
	all = append(all, opts...)
	return NewClientWithResponses(baseURL, all...)
}

// WithTimeout sets the timeout of the client's *http.Client (a copy: the one given to
// WithHTTPClient is not changed). Zero means no timeout. It has no effect when the client's
// HttpRequestDoer is not an *http.Client.
func WithTimeout(d time.Duration) ClientOption {
	return func(c *Client) error {
		if hc, ok := c.Client.(*http.Client); ok {
			cp := *hc
			cp.Timeout = d
			c.Client = &cp
		}
		return nil
	}
}

func bearer(token string) RequestEditorFn {
	v := "Bearer " + token
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", v)
		return nil
	}
}
