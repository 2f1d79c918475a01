package hfhub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// manifestName records the files a snapshot completed, one JSON object a line, so that the
// next snapshot into the same folder keeps them. A line is appended as each file completes
// (so an interrupted snapshot's files count too); a finished snapshot rewrites it with its
// files only.
const manifestName = stateDir + "/manifest.jsonl"

// maxManifestBytes bounds what is read of the manifest; past it, nothing is reused.
const maxManifestBytes = 64 << 20

type manifestEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`
	Commit string `json:"commit"`
	// MTime is the file's modification time (Unix ns) once renamed: a file changed since is
	// not reused.
	MTime int64 `json:"mtime_ns"`
}

type manifest struct {
	mu      sync.Mutex
	entries map[string]manifestEntry
}

// openManifest reads dir's manifest; a missing or unreadable one reuses nothing.
func openManifest(dir *os.Root) *manifest {
	m := &manifest{entries: map[string]manifestEntry{}}
	f, err := dir.Open(manifestName)
	if err != nil {
		return m
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil || len(b) > maxManifestBytes {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), maxNameLen+1024)
	for sc.Scan() {
		var e manifestEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Name != "" {
			m.entries[e.Name] = e
		}
	}
	return m
}

// has reports whether f is in dir from an earlier snapshot: recorded with the same content,
// and not changed since.
func (m *manifest) has(dir *os.Root, f File) bool {
	m.mu.Lock()
	e, ok := m.entries[f.Name]
	m.mu.Unlock()
	if !ok || f.etag() == "" || e.ETag != f.etag() || e.Size != f.Size {
		return false
	}
	fi, err := dir.Lstat(f.Name)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == f.Size && fi.ModTime().UnixNano() == e.MTime
}

// add records f, just renamed into dir.
func (m *manifest) add(dir *os.Root, f File, commit string) error {
	fi, err := dir.Lstat(f.Name)
	if err != nil {
		return fmt.Errorf("file %s: %w", f.Name, err)
	}
	e := manifestEntry{Name: f.Name, Size: f.Size, ETag: f.etag(), Commit: commit, MTime: fi.ModTime().UnixNano()}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[f.Name] = e
	out, err := dir.OpenFile(manifestName, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	_, err = out.Write(append(line, '\n'))
	return errors.Join(err, out.Close())
}

// compact rewrites the manifest with files only.
func (m *manifest) compact(dir *os.Root, files []File) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var buf bytes.Buffer
	for _, f := range files {
		if e, ok := m.entries[f.Name]; ok {
			line, err := json.Marshal(e)
			if err != nil {
				return err
			}
			buf.Write(append(line, '\n'))
		}
	}
	tmp := manifestName + ".tmp"
	if err := dir.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := dir.Rename(tmp, manifestName); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}
