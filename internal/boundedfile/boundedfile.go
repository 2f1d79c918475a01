// Package boundedfile reads files the server is handed (config, workspace, keys, task
// outputs) without trusting their size, and decodes YAML strictly.
package boundedfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

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

// DecodeYAML reads path with Read and decodes its first YAML document into v strictly. A
// key v has no field for, a key set twice, or a value of the wrong kind is an error (a
// *FieldError, several joined with errors.Join) naming the key by its YAML path and line
// ("backend.local.bogus", "tasks[2].timeout"), and for an unknown key the keys allowed
// there. An empty file (or one holding only comments and blank lines) leaves v as it is.
func DecodeYAML(path string, limit int64, v any) error {
	raw, err := Read(path, limit)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return fmt.Errorf("boundedfile: DecodeYAML wants a pointer, got %T", v)
	}
	c := &checker{file: path, aliases: map[*yaml.Node]bool{}}
	c.walk(&doc, t.Elem(), "")
	if len(c.errs) > 0 {
		errs := make([]error, 0, len(c.errs)+1)
		for _, e := range c.errs {
			errs = append(errs, e)
		}
		if c.more > 0 {
			errs = append(errs, fmt.Errorf("%s: and %d more", path, c.more))
		}
		return errors.Join(errs...)
	}
	// The walk found nothing wrong; decoding strictly still backs it up.
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
