package local

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestStoreApps: revisions follow the declaration's hash, the wanted state survives a
// redeclaration, and an app no longer declared is no longer wanted active.
func TestStoreApps(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	v1 := map[string]*app{"web": {Hash: "h1"}, "idle": {Hash: "i1"}}
	rows, err := s.registerApps(ctx, v1)
	if err != nil || rows["web"].Revision != 1 || rows["web"].Active || rows["idle"].Revision != 1 {
		t.Fatalf("first registration: %+v %v", rows, err)
	}
	if err := s.setAppActive(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	if err := s.setAppInstance(ctx, "web", "abc"); err != nil {
		t.Fatal(err)
	}
	if rows, err = s.registerApps(ctx, v1); err != nil || rows["web"].Revision != 1 || !rows["web"].Active {
		t.Fatalf("the same declarations again: %+v %v", rows, err)
	}
	if rows, err = s.registerApps(ctx, map[string]*app{"web": {Hash: "h2"}, "idle": {Hash: "i1"}}); err != nil || rows["web"].Revision != 2 || !rows["web"].Active || rows["idle"].Revision != 1 {
		t.Fatalf("web changed: %+v %v", rows, err)
	}
	if inst, err := s.appInstances(ctx); err != nil || !inst["abc"] || len(inst) != 1 {
		t.Fatalf("instances %v %v", inst, err)
	}
	if _, err = s.registerApps(ctx, map[string]*app{"idle": {Hash: "i1"}}); err != nil {
		t.Fatal(err)
	}
	if rows, err = s.registerApps(ctx, map[string]*app{"web": {Hash: "h2"}}); err != nil || rows["web"].Active || rows["web"].Revision != 2 {
		t.Fatalf("web removed, then declared again: %+v %v, want inactive at revision 2", rows, err)
	}
}

// TestStoreMigratesToApps: a database made before apps gets the apps table when it opens.
func TestStoreMigratesToApps(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "flyte-webhook.db")
	s, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	s.close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE apps`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if rows, err := s.registerApps(context.Background(), map[string]*app{"web": {Hash: "h"}}); err != nil || rows["web"].Revision != 1 {
		t.Fatalf("%+v %v", rows, err)
	}
}
