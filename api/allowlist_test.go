package api

import "testing"

// TestCatalogAllowlist: the catalog carries each operation's x-allowlist, and refuses one
// that is not a policy name.
func TestCatalogAllowlist(t *testing.T) {
	t.Parallel()
	doc, _ := LoadSpec()
	c, err := NewCatalog(doc)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"health": "none", "run_task": "task", "get_run": "run", "call_app": "app", "activate_trigger": "trigger", "get_prefetch_hf_model_io": "prefetch_run"} {
		if o, _ := c.Operation(id); o.Allowlist != want {
			t.Errorf("%s: Allowlist %q, want %q", id, o.Allowlist, want)
		}
	}
	for name, v := range map[string]any{"not a string": []any{"task"}, "empty": ""} {
		t.Run(name, func(t *testing.T) {
			d, _ := LoadSpec()
			d.Paths.Find("/health").Get.Extensions[AllowlistExtension] = v
			if _, err := NewCatalog(d); err == nil {
				t.Fatalf("accepted x-allowlist %#v", v)
			}
		})
	}
}
