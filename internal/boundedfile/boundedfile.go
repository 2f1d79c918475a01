// Package boundedfile reads files the server is handed (config, workspace, keys, task
// outputs) without trusting their size, and decodes YAML strictly.
package boundedfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// Read reads the whole file at path, refusing one larger than limit bytes with a
// *TooLargeError. A missing file is an error satisfying errors.Is(err, fs.ErrNotExist).
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	return b, nil
}

// TooLargeError is Read's refusal of a file over its limit.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %d bytes", e.Path, e.Limit)
}

// DecodeYAML reads path with Read and decodes it into v strictly: a key v has no field for is
// an error naming it. An empty file leaves v as it is.
func DecodeYAML(path string, limit int64, v any) error {
	raw, err := Read(path, limit)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
