package hfhub

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultEndpoint is the Hub's address, used when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// maxRepoPart is the Hub's limit on a repo name's length (huggingface_hub's validate_repo_id);
// we apply it to the owner too.
const maxRepoPart = 96

// ValidRepo checks a repo id as the Hub spells them, owner required: "owner/name", each part of
// ASCII letters, digits, "-", "_" and ".", starting and ending with a letter, digit or "_", at
// most 96 long; no "--" or ".." anywhere, no ".git" at the end. The error says which rule
// failed.
func ValidRepo(repo string) error {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || strings.Contains(name, "/") {
		return fmt.Errorf("repo %q is not owner/name", repo)
	}
	for _, p := range [...]struct{ what, s string }{{"owner", owner}, {"name", name}} {
		if p.s == "" || len(p.s) > maxRepoPart {
			return fmt.Errorf("repo %q: the %s must be 1 to %d characters long", repo, p.what, maxRepoPart)
		}
		for i := 0; i < len(p.s); i++ {
			c := p.s[i]
			if !wordChar(c) && c != '-' && c != '.' {
				return fmt.Errorf("repo %q: the %s may hold only ASCII letters, digits, '-', '_' and '.'", repo, p.what)
			}
		}
		if !wordChar(p.s[0]) || !wordChar(p.s[len(p.s)-1]) {
			return fmt.Errorf("repo %q: the %s must start and end with a letter, a digit or '_'", repo, p.what)
		}
	}
	if strings.Contains(repo, "--") || strings.Contains(repo, "..") {
		return fmt.Errorf("repo %q: '--' and '..' are not allowed", repo)
	}
	if strings.HasSuffix(repo, ".git") {
		return fmt.Errorf("repo %q: a repo id cannot end in .git", repo)
	}
	return nil
}

func wordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// stateDir is the folder in Dir holding our own files (temporary downloads, the manifest, the
// lock). The Hub's file names may not enter it.
const stateDir = ".hfhub"

// maxNameLen bounds a file name from the Hub (Linux's PATH_MAX); each segment is bounded by
// NAME_MAX less room for our temporary suffixes.
const (
	maxNameLen    = 4096
	maxSegmentLen = 255
)

// checkFileName checks a file name the Hub listed before anything is written for it: a
// relative, clean, "/"-separated path of valid UTF-8 without NUL, backslash or control
// characters, no segment "." or "..", not inside our state folder.
func checkFileName(name string) error {
	switch {
	case name == "":
		return errors.New("an empty file name")
	case len(name) > maxNameLen:
		return fmt.Errorf("file name of %d bytes is too long", len(name))
	case !utf8.ValidString(name):
		return fmt.Errorf("file name %q is not UTF-8", name)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("file name %q is absolute", name)
	case strings.ContainsAny(name, "\\\x00"):
		return fmt.Errorf("file name %q holds a backslash or NUL", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("file name %q holds a control character", name)
		}
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return fmt.Errorf("file name %q is not a clean relative path", name)
		case len(seg) > maxSegmentLen:
			return fmt.Errorf("file name %q has a segment longer than %d bytes", name, maxSegmentLen)
		}
	}
	if first, _, _ := strings.Cut(name, "/"); first == stateDir {
		return fmt.Errorf("file name %q is inside %s, which this downloader keeps for itself", name, stateDir)
	}
	if path.Clean(name) != name {
		return fmt.Errorf("file name %q is not a clean relative path", name)
	}
	return nil
}

// ResolveDir resolves where a snapshot goes: rawDataPath inside root (a directory, absolute or
// relative to the working directory). rawDataPath is relative to root, or absolute and inside
// root; "" is def (relative to root). It refuses "..", a path that is root itself, and a path
// whose existing part leads outside root through a symbolic link. It returns the path
// relative to root ("/"-separated, clean), for os.Root.OpenRoot after MkdirAll: os.Root then
// keeps every later access inside root whatever changes on disk.
func ResolveDir(root, rawDataPath, def string) (string, error) {
	p := rawDataPath
	if p == "" {
		p = def
	}
	if strings.ContainsRune(p, 0) {
		return "", errors.New("raw_data_path holds a NUL")
	}
	// A newline or another control character in a folder's name forges lines in logs and
	// listings; no model folder needs one.
	if strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("raw_data_path %q holds a control character (a newline, a tab, …)", rawDataPath)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("the models directory: %w", err)
	}
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(absRoot, filepath.Clean(p))
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("raw_data_path %q is outside the models directory %s", rawDataPath, absRoot)
		}
		p = rel
	}
	for _, seg := range strings.Split(filepath.ToSlash(p), "/") {
		if seg == ".." {
			return "", fmt.Errorf("raw_data_path %q: '..' is not allowed", rawDataPath)
		}
	}
	rel := filepath.ToSlash(filepath.Clean(p))
	if rel == "." {
		return "", fmt.Errorf("raw_data_path %q is the models directory itself: name a folder inside it", rawDataPath)
	}
	if first, _, _ := strings.Cut(rel, "/"); first == stateDir {
		return "", fmt.Errorf("raw_data_path %q: %s is reserved", rawDataPath, stateDir)
	}
	// Follow what exists of the path: a symbolic link leading out is refused now, with a
	// clear message (os.Root would refuse it later anyway, with a less clear one).
	realRoot, err := filepath.EvalSymlinks(absRoot)
	if errors.Is(err, os.ErrNotExist) {
		return rel, nil
	}
	if err != nil {
		return "", fmt.Errorf("the models directory: %w", err)
	}
	cur := realRoot
	for _, seg := range strings.Split(rel, "/") {
		next := filepath.Join(cur, seg)
		real, err := filepath.EvalSymlinks(next)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("raw_data_path %q: %w", rawDataPath, err)
		}
		if r, err := filepath.Rel(realRoot, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || r == "." {
			return "", fmt.Errorf("raw_data_path %q leads outside the models directory through a symbolic link", rawDataPath)
		}
		cur = real
	}
	return rel, nil
}

// EndpointFromEnv returns HF_ENDPOINT, as huggingface_hub reads it (trailing "/" removed), or
// DefaultEndpoint when it is not set.
func EndpointFromEnv() string {
	if e := strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"); e != "" {
		return e
	}
	return DefaultEndpoint
}

// ValidateEndpoint checks a Hub endpoint: an absolute https URL without query or fragment, or
// http on a loopback address (tests, a local mirror): the token must never cross a network in
// clear text.
func ValidateEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	switch {
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("endpoint %q is not a base URL (scheme://host[:port][/path])", endpoint)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("endpoint %q: http is allowed on a loopback address only; use https", endpoint)
	}
	return fmt.Errorf("endpoint %q: the scheme must be https", endpoint)
}

// loopbackHost reports whether host (without port) is a loopback address or "localhost".
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
