package hfhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// maxFiles bounds the file list: far more than any model repo holds.
const maxFiles = 100_000

// Info is a model's file list at a commit.
type Info struct {
	// Commit is the commit the revision resolved to (the API's "sha"), 40 hex digits.
	Commit string
	Files  []File
}

// Size is the sum of the files' sizes.
func (i Info) Size() int64 {
	var n int64
	for _, f := range i.Files {
		n += f.Size
	}
	return n
}

// File is one file of a model as the Hub lists it.
type File struct {
	// Name is its path in the repo, "/"-separated, checked by checkFileName.
	Name string
	// Size is its real size in bytes (of the content, for an LFS file).
	Size int64
	// SHA256 is the content's sha256 (hex) for an LFS file, "" otherwise.
	SHA256 string
	// BlobID is the git blob id (hex sha1) when the Hub gave it, "" otherwise. It is checked
	// for files not in LFS (for an LFS file it is the pointer's).
	BlobID string
}

// etag is what identifies the file's content: its sha256, else its blob id.
func (f File) etag() string {
	if f.SHA256 != "" {
		return f.SHA256
	}
	return f.BlobID
}

// wireInfo is the part of the Hub's model info we read.
type wireInfo struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
		Size      *int64 `json:"size"`
		BlobID    string `json:"blobId"`
		LFS       *struct {
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"lfs"`
	} `json:"siblings"`
}

// ModelInfo fetches the file list of repo at revision ("" is "main"). token may be nil: the
// request is then anonymous, and a private repo answers a *HubError with NeedsToken.
func (c *Client) ModelInfo(ctx context.Context, repo, revision string, token TokenFunc) (Info, error) {
	if err := ValidRepo(repo); err != nil {
		return Info{}, err
	}
	s, err := c.session(token)
	if err != nil {
		return Info{}, err
	}
	return s.info(ctx, repo, revision)
}

func (s *session) info(ctx context.Context, repo, revision string) (Info, error) {
	if revision == "" {
		revision = "main"
	}
	u, err := url.Parse(s.c.Endpoint + "/api/models/" + repo + "/revision/" + url.PathEscape(revision) + "?blobs=true")
	if err != nil {
		return Info{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.c.InfoTimeout)
	defer cancel()
	what := "the file list of " + repo
	a, err := s.get(ctx, u, nil, what, false)
	if err != nil {
		return Info{}, err
	}
	defer a.Body.Close()
	body, err := io.ReadAll(io.LimitReader(a.Body, s.c.MaxInfoBytes+1))
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", what, err)
	}
	if int64(len(body)) > s.c.MaxInfoBytes {
		return Info{}, fmt.Errorf("%s: the answer is larger than %d bytes", what, s.c.MaxInfoBytes)
	}
	info, err := parseInfo(body)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", what, err)
	}
	return info, nil
}

// parseInfo reads and checks the Hub's model info.
func parseInfo(body []byte) (Info, error) {
	var w wireInfo
	if err := json.Unmarshal(body, &w); err != nil {
		return Info{}, fmt.Errorf("the answer is not the Hub's model info: %w", err)
	}
	if !hexOf(w.SHA, 40) {
		return Info{}, fmt.Errorf("the answer's commit sha %q is not 40 hex digits", oneLine(w.SHA))
	}
	if len(w.Siblings) > maxFiles {
		return Info{}, fmt.Errorf("the repo lists %d files, more than %d", len(w.Siblings), maxFiles)
	}
	info := Info{Commit: strings.ToLower(w.SHA), Files: make([]File, 0, len(w.Siblings))}
	names := make(map[string]bool, len(w.Siblings))
	for _, sb := range w.Siblings {
		if err := checkFileName(sb.RFilename); err != nil {
			return Info{}, fmt.Errorf("the Hub lists a file this downloader refuses: %w", err)
		}
		if names[sb.RFilename] {
			return Info{}, fmt.Errorf("the Hub lists file %q twice", sb.RFilename)
		}
		names[sb.RFilename] = true
		f := File{Name: sb.RFilename, BlobID: strings.ToLower(sb.BlobID)}
		if f.BlobID != "" && !hexOf(f.BlobID, 40) {
			return Info{}, fmt.Errorf("file %q: blobId %q is not 40 hex digits", f.Name, oneLine(sb.BlobID))
		}
		switch {
		case sb.LFS != nil:
			f.Size, f.SHA256 = sb.LFS.Size, strings.ToLower(sb.LFS.SHA256)
			if !hexOf(f.SHA256, 64) {
				return Info{}, fmt.Errorf("file %q: lfs.sha256 %q is not 64 hex digits", f.Name, oneLine(sb.LFS.SHA256))
			}
		case sb.Size != nil:
			f.Size = *sb.Size
		default:
			return Info{}, fmt.Errorf("file %q has no size (was blobs=true honoured?)", f.Name)
		}
		if f.Size < 0 {
			return Info{}, fmt.Errorf("file %q: negative size %d", f.Name, f.Size)
		}
		info.Files = append(info.Files, f)
	}
	// A name that is also another's folder ("a" and "a/b") cannot both be written.
	for name := range names {
		for dir := name; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if names[dir] {
				return Info{}, fmt.Errorf("the Hub lists %q both as a file and as the folder of %q", dir, name)
			}
		}
	}
	return info, nil
}

func hexOf(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// errShortBody is a download whose body ended cleanly before the file's size.
var errShortBody = errors.New("the answer ended before the end of the file")

// errRangeIgnored is a 206 that does not start where we asked.
var errRangeIgnored = errors.New("the answer's range does not start where the download stopped")
