package hfhub

import (
	"errors"
	"fmt"
	"net/http"
)

// HubError is an error answer of the Hub (or of its file store).
type HubError struct {
	// Status is the HTTP status.
	Status int
	// Code is the X-Error-Code header (RepoNotFound, RevisionNotFound, EntryNotFound,
	// GatedRepo), "" when there is none.
	Code string
	// Message is the X-Error-Message header, "" when there is none.
	Message string
	// What says what was asked for: "the file list of owner/name", "file config.json".
	What string
	// TokenSent says whether the request carried a token.
	TokenSent bool
	// Store says the answer came from the file store a redirect led to, not the Hub itself.
	Store bool
}

func (e *HubError) Error() string {
	who := "the Hub"
	if e.Store {
		who = "the Hub's file store"
	}
	s := fmt.Sprintf("%s: %s answered %d %s", e.What, who, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	switch {
	case e.Store:
	case e.Status == http.StatusUnauthorized && !e.TokenSent:
		s += "; the repo is private or gated, or does not exist (the Hub does not tell them apart without a token)"
	case e.Status == http.StatusUnauthorized:
		s += "; the token was refused"
	case e.Code == "GatedRepo":
		s += "; the token's account has not been granted access to this gated repo"
	}
	return s
}

// NeedsToken reports whether the answer says a token (or a better one) would be needed: a
// 401, or a gated repo's 403.
func (e *HubError) NeedsToken() bool {
	return !e.Store && (e.Status == http.StatusUnauthorized || e.Code == "GatedRepo")
}

// TokenError is the failure of Options.Token when the Hub asked for a token.
type TokenError struct {
	// Hub is the Hub's answer without a token.
	Hub *HubError
	Err error
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("%s, and no token can be used: %v", e.Hub.Error(), e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// ChecksumError is a downloaded file whose size or checksum is not what the file list says.
// The file is removed, never renamed to its name.
type ChecksumError struct {
	File string
	// Kind is "size", "sha256" or "git blob id".
	Kind      string
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("file %s: %s mismatch: the Hub's file list says %s, the download has %s", e.File, e.Kind, e.Want, e.Got)
}

// TooLargeError refuses a model larger than Options.MaxBytes.
type TooLargeError struct {
	Bytes, Max int64
	// Cap names the limit for the message ("the disk cap").
	Cap string
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the model is %s (%d bytes), over %s of %s (%d bytes)", FormatBytes(e.Bytes), e.Bytes, e.Cap, FormatBytes(e.Max), e.Max)
}

// NoRoomError refuses a download that does not fit in the free space of the destination's
// file system (less Options.KeepFree).
type NoRoomError struct {
	Need, Free, KeepFree int64
	Dir                  string
}

func (e *NoRoomError) Error() string {
	s := fmt.Sprintf("not enough free disk space in %s: the download needs %s (%d bytes), the file system has %s free",
		e.Dir, FormatBytes(e.Need), e.Need, FormatBytes(e.Free))
	if e.KeepFree > 0 {
		s += fmt.Sprintf(" and %s of it is kept free", FormatBytes(e.KeepFree))
	}
	return s
}

// errRedirect is a redirect this client does not follow.
var errRedirect = errors.New("redirect refused")
