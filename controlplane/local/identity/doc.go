// Package identity tells who is calling the embedded local control plane: it checks the
// credentials passed through from the webhook (controlplane.Credentials) against API tokens
// and, optionally, JSON Web Tokens of configured issuers, and answers a
// controlplane.Identity. In front of Flyte it verifies its issuers' tokens for the webhook
// (VerifyOwn).
//
// # Configuration
//
// The YAML under backend.local.auth decodes into Config:
//
//	backend:
//	  local:
//	    auth:
//	      tokens:
//	        - sha256: 5d41402abc4b2a76b9719d911017c592ab3a6b2bd5f0b1a8a2e1c0e2f3b9a1c4
//	          subject: ci-bot
//	          name: CI pipeline        # defaults to subject
//	        - sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
//	          subject: alice
//	      jwt:                         # optional: one issuer with a key of its own
//	        issuer: https://idp.example.com/
//	        audience: flyte-webhook
//	        # exactly one key source:
//	        jwks_file: /etc/flyte-webhook/jwks.json        # RS256 / ES256 public keys, by kid
//	        # public_key_file: /etc/flyte-webhook/idp.pem  # RS256 (RSA) or ES256 (P-256)
//	        # secret_env: FLYTE_WEBHOOK_JWT_SECRET         # HS256, secret in the environment
//	        # secret_file: /run/secrets/jwt-secret         # HS256, secret in a file
//	        subject_claim: sub         # default
//	        name_claim: name           # default; falls back to email, then the subject
//	        leeway: 30s                # default; clock skew allowed on exp, nbf, iat
//	      issuers:                     # optional: more issuers, each like jwt
//	        - issuer: https://token.actions.githubusercontent.com
//	          audience: flyte-webhook  # what the job asks for (core.getIDToken(audience))
//	          # no key source: discovered (/.well-known/openid-configuration, jwks_uri)
//	          name_claim: repository
//	          conditions:              # all must hold, or the token is refused (401)
//	            repository: org/repo
//	            ref: [refs/heads/main, refs/heads/release]
//	            environment: production
//	          allowlists:              # narrow the webhook's allowlists per claim value
//	            - when: {repository: org/repo}
//	              task_allowlist: [production/deploy/release]
//	              app_allowlist: [web]
//	          timeout: 10s             # default; each discovery or key set request
//	          refresh_interval: 10s    # default; least time between two key set fetches
//	          retry_interval: 2s       # default; first wait before trying again, doubling to 1m
//
// Whether calls without credentials are allowed is not set here: cmd sets
// Config.AllowAnonymous from the top-level requires_auth: false, and such calls run as
// subject "anonymous". Credentials that are present but wrong are refused either way.
//
// New refuses a bad config with errors that name the key, e.g.
// "auth.tokens[1].sha256: want 64 hex characters". File paths are used as given (relative
// ones from the working directory). New makes no network request; Start looks up the
// discovered issuers in the background.
//
// # Creating a token
//
// The config never holds a token, only its SHA-256. Run
//
//	flyte-webhook token
//
// It prints a new token (shown once: hand it to the caller) and the line to paste under
// tokens, e.g. "sha256: 1f0e…". NewToken and HashToken do the same from Go. Callers send the
// token as "Authorization: Bearer fwh_…" or in a cookie named flyte_webhook_token.
//
// # Verification
//
// Authorization (Bearer scheme only) wins over the cookie. Two flyte_webhook_token cookies are
// ambiguous and refused (401), whether or not an Authorization header is there, rather than
// letting "the first one" win. The token's SHA-256 is compared in
// constant time with every configured hash; when none matches and the token has the shape of
// a JWT, it is verified as one. With one issuer configured, that issuer checks every JWT;
// with several, the token's iss (read before the signature is checked, only to pick whose
// keys check it) selects one, and a token naming none is refused.
//
// Parsing, signatures and keys are go-jose's (github.com/go-jose/go-jose/v4): the compact
// JWS is parsed by jose.ParseSignedCompact, signatures checked by Verify, JWKs parsed by
// jose.JSONWebKey, and exp, nbf, iat, iss and aud by its jwt package (jwt.Claims,
// ValidateWithLeeway). PEM keys are read with encoding/pem and crypto/x509. The policy is
// ours: the algorithm comes from the key (HS256, RS256 or ES256; a discovered issuer RS256 or
// ES256 only) and a token naming any other alg, "none" included, is refused; RSA keys have
// 2048 bits or more, EC keys are on P-256, key sets hold public keys only; exp is required;
// crit and b64 headers are refused. Keys come only from the config or the issuer's own
// discovery: jku, jwk, x5u and x5c headers are never used. Tokens over 8 KiB are refused
// before parsing. Then the issuer's conditions must hold, and its allowlists entries give
// the identity its Allowlists (see JWTConfig).
//
// Discovered issuers are go-oidc's (github.com/coreos/go-oidc/v3): oidc.NewProvider reads
// the discovery document and checks its issuer equals ours; oidc.RemoteKeySet keeps the keys
// and fetches them again when a token names an unknown kid. The HTTP client it is given is
// ours and bounds it (see remote): a timeout on every request, 64 KiB for discovery and
// 256 KiB for the key set (a larger answer is refused, not cut short), no redirects, and at
// least refresh_interval between two key set requests, so a flood of made-up kids costs the
// issuer one request per interval. Until an issuer's keys have been read once, and while a
// refresh for an unknown kid fails, its tokens get CodeUnavailable with a RetryAfter (503
// and Retry-After): a CI job reads 401 as a bad token and does not retry.
//
// Every other refusal is a *controlplane.Error with CodeUnauthenticated and a generic
// message; its Cause says why, for logs, and never contains the credential or a claim value.
package identity
