// Package hubtest serves small model repositories in the HuggingFace Hub's wire format, for
// tests (the Hub itself cannot be reached from them): the file list at
// /api/models/{repo}/revision/{revision}, files at /{repo}/resolve/{revision}/{path}, LFS
// files as a 302 to a second server (the file store, on another loopback address when the
// system has one) that serves them by sha256 from a presigned-looking URL and refuses an
// Authorization header as S3 does. Both honour Range. Private and gated repos answer as the
// Hub does without a token. Faults can be injected per file: a cut connection, a stall, a
// corrupted body, a Range ignored.
//
// The format, and what it was read from, is described in package hfhub's documentation.
package hubtest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// File is a file of a repo.
type File struct {
	// Name is its path in the repo ("/"-separated).
	Name    string
	Content []byte
	// LFS stores it in LFS: listed with lfs {size, sha256}, served from the file store.
	LFS bool
}

// Repo is a model repository.
type Repo struct {
	// ID is "owner/name".
	ID    string
	Files []File
	// Private: the file list and the files answer 401 without the server's token.
	Private bool
	// Gated: the file list is public, the files answer 401 (GatedRepo) without the token.
	Gated bool
	// Siblings, when not nil, replaces the file list's siblings as they are (to list files a
	// downloader must refuse, or wrong checksums).
	Siblings []map[string]any
}

// Request is a request one of the servers received.
type Request struct {
	// Host is "hub" or "store".
	Host          string
	Path          string
	Range         string
	Authorization string
}

// Server is a Hub and its file store.
type Server struct {
	// Hub is the endpoint; Store the file store LFS files redirect to.
	Hub, Store *httptest.Server
	// Token is the token private and gated repos accept (as "Authorization: Bearer <Token>").
	Token string

	mu     sync.Mutex
	repos  map[string]*repo
	blobs  map[string][]byte // sha256 → content, for the store
	faults map[string][]fault
	reqs   []Request
	done   chan struct{}
}

type repo struct {
	Repo
	commit string
}

type faultKind int

const (
	cut faultKind = iota
	stall
	ignoreRange
	corrupt
	deny
)

type fault struct {
	kind  faultKind
	after int64
}

// New starts a Hub serving repos, closed by t's cleanup.
func New(t testing.TB, repos ...Repo) *Server {
	s := &Server{Token: "hf_test_token_0123456789", repos: map[string]*repo{}, blobs: map[string][]byte{},
		faults: map[string][]fault{}, done: make(chan struct{})}
	for _, r := range repos {
		s.Put(r)
	}
	s.Hub = httptest.NewServer(http.HandlerFunc(s.hub))
	s.Store = httptest.NewUnstartedServer(http.HandlerFunc(s.store))
	// Another loopback address makes the store another host, as the Hub's CDN is.
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err == nil {
		s.Store.Listener.Close()
		s.Store.Listener = l
	}
	s.Store.Start()
	t.Cleanup(func() {
		close(s.done)
		s.Hub.Close()
		s.Store.Close()
	})
	return s
}

// URL is the Hub's endpoint.
func (s *Server) URL() string { return s.Hub.URL }

// Put adds or replaces a repo (a replaced repo gets a new commit when its files changed).
func (s *Server) Put(r Repo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := sha1.New()
	fmt.Fprintf(h, "%s\x00", r.ID)
	for _, f := range r.Files {
		fmt.Fprintf(h, "%s\x00%x\x00", f.Name, sha256.Sum256(f.Content))
		if f.LFS {
			sum := sha256.Sum256(f.Content)
			s.blobs[hex.EncodeToString(sum[:])] = f.Content
		}
	}
	s.repos[r.ID] = &repo{Repo: r, commit: hex.EncodeToString(h.Sum(nil))}
}

// Commit is the commit repo's "main" resolves to.
func (s *Server) Commit(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repos[id].commit
}

// CutAfter makes the next times answers carrying file name of repo id send n bytes of their
// body, then cut the connection.
func (s *Server) CutAfter(id, name string, n int64, times int) {
	s.addFault(id, name, fault{kind: cut, after: n}, times)
}

// StallAfter makes the next answer carrying the file send n bytes, then send nothing until
// the client goes away.
func (s *Server) StallAfter(id, name string, n int64) {
	s.addFault(id, name, fault{kind: stall, after: n}, 1)
}

// IgnoreRange makes the next answer carrying the file send all of it with 200, whatever
// Range the request asked for.
func (s *Server) IgnoreRange(id, name string) {
	s.addFault(id, name, fault{kind: ignoreRange}, 1)
}

// Corrupt makes the next times answers carrying the file send it with one byte changed (the
// file list still gives the true checksum).
func (s *Server) Corrupt(id, name string, times int) {
	s.addFault(id, name, fault{kind: corrupt}, times)
}

// Deny makes the next times answers carrying the file a 401, as a file store answers an
// expired presigned URL.
func (s *Server) Deny(id, name string, times int) {
	s.addFault(id, name, fault{kind: deny}, times)
}

func (s *Server) addFault(id, name string, f fault, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.faults[id+"\x00"+name] = append(s.faults[id+"\x00"+name], f)
	}
}

func (s *Server) takeFault(id, name string) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := id + "\x00" + name
	if len(s.faults[k]) == 0 {
		return fault{}, false
	}
	f := s.faults[k][0]
	s.faults[k] = s.faults[k][1:]
	return f, true
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

func (s *Server) record(host string, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, Request{Host: host, Path: r.URL.EscapedPath(), Range: r.Header.Get("Range"), Authorization: r.Header.Get("Authorization")})
}

// BlobID is the git blob id of content.
func BlobID(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// SHA256 is the hex sha256 of content.
func SHA256(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// hubError answers as the Hub does: the status, X-Error-Code and X-Error-Message, and
// {"error": message}.
func hubError(w http.ResponseWriter, status int, code, message string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", message)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": message})
}

// lookup finds the repo a request names and checks the caller's token: ok false when it has
// answered already.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, owner, name string, files bool) (*repo, bool) {
	auth := r.Header.Get("Authorization")
	if auth != "" && auth != "Bearer "+s.Token {
		hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
		return nil, false
	}
	authed := auth != ""
	s.mu.Lock()
	rp, ok := s.repos[owner+"/"+name]
	s.mu.Unlock()
	switch {
	case (!ok || rp.Private) && !authed:
		hubError(w, http.StatusUnauthorized, "RepoNotFound", "Invalid username or password.")
		return nil, false
	case !ok:
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return nil, false
	case rp.Gated && files && !authed:
		hubError(w, http.StatusUnauthorized, "GatedRepo", fmt.Sprintf("Access to model %s is restricted. You must have access to it and be authenticated to access it. Please log in.", rp.ID))
		return nil, false
	}
	return rp, true
}

func (s *Server) hub(w http.ResponseWriter, r *http.Request) {
	s.record("hub", r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		segs[i] = u
	}
	switch {
	case len(segs) == 6 && segs[0] == "api" && segs[1] == "models" && segs[4] == "revision":
		s.info(w, r, segs[2], segs[3], segs[5])
	case len(segs) >= 5 && segs[2] == "resolve":
		s.resolve(w, r, segs[0], segs[1], segs[3], strings.Join(segs[4:], "/"))
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) info(w http.ResponseWriter, r *http.Request, owner, name, rev string) {
	rp, ok := s.lookup(w, r, owner, name, false)
	if !ok {
		return
	}
	if rev != "main" && rev != rp.commit {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	blobs := r.URL.Query().Get("blobs") != "" && r.URL.Query().Get("blobs") != "false"
	siblings := make([]map[string]any, 0, len(rp.Files))
	for _, f := range rp.Files {
		sb := map[string]any{"rfilename": f.Name}
		if blobs {
			sb["size"] = len(f.Content)
			sb["blobId"] = BlobID(f.Content)
			if f.LFS {
				pointer := lfsPointer(f.Content)
				sb["blobId"] = BlobID(pointer)
				sb["lfs"] = map[string]any{"size": len(f.Content), "sha256": SHA256(f.Content), "pointerSize": len(pointer)}
			}
		}
		siblings = append(siblings, sb)
	}
	if rp.Siblings != nil {
		siblings = rp.Siblings
	}
	gated := any(false)
	if rp.Gated {
		gated = "manual"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"_id": "0123456789abcdef01234567", "id": rp.ID, "modelId": rp.ID, "author": owner, "sha": rp.commit,
		"private": rp.Private, "gated": gated, "disabled": false, "tags": []string{}, "downloads": 0, "likes": 0,
		"lastModified": "2025-01-01T00:00:00.000Z", "createdAt": "2025-01-01T00:00:00.000Z", "siblings": siblings,
	})
}

// lfsPointer is the git-lfs pointer file stored in git for content.
func lfsPointer(content []byte) []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", SHA256(content), len(content))
}

func (s *Server) resolve(w http.ResponseWriter, r *http.Request, owner, name, rev, file string) {
	rp, ok := s.lookup(w, r, owner, name, true)
	if !ok {
		return
	}
	if rev != "main" && rev != rp.commit {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	var f *File
	for i := range rp.Files {
		if rp.Files[i].Name == file {
			f = &rp.Files[i]
		}
	}
	if f == nil {
		w.Header().Set("X-Repo-Commit", rp.commit)
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	w.Header().Set("X-Repo-Commit", rp.commit)
	if f.LFS {
		sha := SHA256(f.Content)
		w.Header().Set("ETag", `"`+BlobID(lfsPointer(f.Content))+`"`)
		w.Header().Set("X-Linked-Etag", `"`+sha+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(f.Content)))
		loc := fmt.Sprintf("%s/repos/%s/%s?response-content-disposition=attachment&X-Amz-Expires=3600&X-Amz-Signature=%s&file=%s",
			s.Store.URL, sha[:2], sha, sha[:16], url.QueryEscape(rp.ID+"\x00"+f.Name))
		http.Redirect(w, r, loc, http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+BlobID(f.Content)+`"`)
	s.serve(w, r, rp.ID, f.Name, f.Content)
}

func (s *Server) store(w http.ResponseWriter, r *http.Request) {
	s.record("store", r)
	q := r.URL.Query()
	switch {
	case r.Header.Get("Authorization") != "":
		// S3 refuses a presigned URL that also carries an Authorization header.
		http.Error(w, "InvalidArgument: Only one auth mechanism allowed", http.StatusBadRequest)
		return
	case q.Get("X-Amz-Signature") == "":
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(segs) != 3 || segs[0] != "repos" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	content, ok := s.blobs[segs[2]]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	id, name, _ := strings.Cut(q.Get("file"), "\x00")
	s.serve(w, r, id, name, content)
}

// serve sends content with Range support, applying the file's next fault.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, id, name string, content []byte) {
	f, ok := s.takeFault(id, name)
	if !ok {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
		return
	}
	switch f.kind {
	case deny:
		http.Error(w, "ExpiredToken: the presigned URL has expired", http.StatusUnauthorized)
		return
	case ignoreRange:
		r.Header.Del("Range")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
		return
	case corrupt:
		bad := bytes.Clone(content)
		if len(bad) > 0 {
			bad[len(bad)/2] ^= 0xff
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(bad))
		return
	}
	fw := &faultWriter{ResponseWriter: w, left: f.after, kind: f.kind, ctx: r.Context().Done(), done: s.done}
	http.ServeContent(fw, r, "", time.Time{}, bytes.NewReader(content))
}

// faultWriter lets left bytes of the body through, then cuts the connection or stalls.
type faultWriter struct {
	http.ResponseWriter
	left int64
	kind faultKind
	ctx  <-chan struct{}
	done chan struct{}
}

func (w *faultWriter) Write(b []byte) (int, error) {
	if int64(len(b)) <= w.left {
		w.left -= int64(len(b))
		return w.ResponseWriter.Write(b)
	}
	_, _ = w.ResponseWriter.Write(b[:w.left])
	w.left = 0
	http.NewResponseController(w.ResponseWriter).Flush()
	if w.kind == stall {
		select {
		case <-w.ctx:
		case <-w.done:
		}
	}
	panic(http.ErrAbortHandler)
}

// Fixture is a small public repo with a file kept in git, a nested one and two LFS files (one
// of them large enough to be cut in the middle), and its private twin.
func Fixture(owner string) []Repo {
	weights := make([]byte, 3<<20+12345)
	for i := range weights {
		weights[i] = byte(i*7 + i>>11)
	}
	files := []File{
		{Name: "config.json", Content: []byte(`{"architectures": ["TinyForCausalLM"], "model_type": "tiny"}` + "\n")},
		{Name: "tokenizer/vocab.txt", Content: []byte("hello\nworld\n")},
		{Name: "model.safetensors", Content: weights, LFS: true},
		{Name: "small.bin", Content: []byte("lfs but small"), LFS: true},
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return []Repo{
		{ID: owner + "/tiny", Files: files},
		{ID: owner + "/private-tiny", Files: files, Private: true},
		{ID: owner + "/gated-tiny", Files: files, Gated: true},
	}
}
