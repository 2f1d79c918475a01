// Package identity tells who is calling the embedded local control plane: it checks the
// credentials passed through from the webhook (controlplane.Credentials) against API tokens
// and, optionally, JSON Web Tokens, and answers a controlplane.Identity.
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
//	      jwt:                         # optional
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
//
// Whether calls without credentials are allowed is not set here: cmd sets
// Config.AllowAnonymous from the top-level requires_auth: false, and such calls run as
// subject "anonymous". Credentials that are present but wrong are refused either way.
//
// New refuses a bad config with errors that name the key, e.g.
// "auth.tokens[1].sha256: want 64 hex characters". File paths are used as given (relative
// ones from the working directory).
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
// a JWT, it is verified with the configured key: the algorithm comes from the key (HS256,
// RS256 or ES256) and a token naming any other alg, "none" included, is refused; exp is
// required, nbf and iat are checked when present; iss must equal issuer and aud (a string or
// a list) must contain audience. Keys come only from the config: jku, jwk, x5u and x5c headers
// are ignored. Tokens over 8 KiB are refused before parsing.
//
// Every refusal is a *controlplane.Error with CodeUnauthenticated and a generic message; its
// Cause says why, for logs, and never contains the credential.
package identity
