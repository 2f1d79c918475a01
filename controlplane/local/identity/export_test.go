package identity

// The refusal reasons, for the black-box tests to check why a credential was refused.
var (
	ErrNoCredentials = errNoCredentials
	ErrScheme        = errScheme
	ErrTooLarge      = errTooLarge
	ErrDuplicate     = errDuplicate
	ErrUnknownToken  = errUnknownToken
	ErrMalformed     = errMalformed
	ErrAlgorithm     = errAlgorithm
	ErrNoKey         = errNoKey
	ErrSignature     = errSignature
	ErrExpired       = errExpired
	ErrNotYetValid   = errNotYetValid
	ErrIssuer        = errIssuer
	ErrAudience      = errAudience
	ErrClaims        = errClaims
	ErrCondition     = errCondition
)
