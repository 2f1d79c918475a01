package flytetest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// TokenRequests returns how many tokens the token endpoint was asked for.
func (s *Server) TokenRequests() int {
	n := 0
	for _, c := range s.Calls() {
		if c.Procedure == "/oauth2/token" {
			n++
		}
	}
	return n
}

// RevokeTokens makes every token issued so far invalid.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	s.tokens = map[string]time.Time{}
	s.mu.Unlock()
}

func (s *Server) oauth2Metadata(_ *User, body []byte) (any, error) {
	var req struct{}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if s.opts.OAuth2 == nil || s.opts.OAuth2.Unpublished {
		return nil, errorf(codeUnimplemented, "no external authorization server is configured")
	}
	return map[string]any{"issuer": s.URL, "tokenEndpoint": s.URL + "/oauth2/token"}, nil
}

// token is an OAuth2 token endpoint for the client credentials grant (RFC 6749 4.4).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	s.calls = append(s.calls, Call{Procedure: "/oauth2/token", Header: r.Header.Clone(), Body: []byte(r.PostForm.Encode())})
	failing := s.failToken
	s.mu.Unlock()
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	o := s.opts.OAuth2
	switch {
	case o == nil:
		http.NotFound(w, r)
		return
	case r.Method != http.MethodPost:
		fail(http.StatusMethodNotAllowed, "invalid_request")
		return
	case failing:
		fail(http.StatusServiceUnavailable, "temporarily_unavailable")
		return
	case r.PostForm.Get("grant_type") != "client_credentials":
		fail(http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != o.ClientID || secret != o.ClientSecret {
		fail(http.StatusUnauthorized, "invalid_client")
		return
	}
	s.mu.Lock()
	s.seq++
	tok := "svc-" + strconv.Itoa(s.seq)
	s.tokens[tok] = s.now().Add(o.TokenTTL)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(o.TokenTTL.Seconds()),
	})
}
