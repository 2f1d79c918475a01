package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestBuildImagePushWithBuildah: with builds.registry the image is pushed, with the
// credentials of builds.registry_secret, to a real registry (Debian's docker-registry, which
// make builder unpacks, on 127.0.0.1, plain HTTP, htpasswd auth: an anonymous push is
// refused), and the run's digest is the one the registry serves. The password never reaches
// a log. Not parallel: the secret is set in this process's environment, which the server
// inherits.
func TestBuildImagePushWithBuildah(t *testing.T) {
	_, flags := buildahStore(t)
	registryBin := filepath.Join(repoRoot(t), ".cache", "docker-registry", "usr", "bin", "docker-registry") // make builder
	if _, err := os.Stat(registryBin); err != nil {
		if registryBin, err = exec.LookPath("docker-registry"); err != nil {
			t.Skip("no docker-registry in .cache/docker-registry (make builder unpacks Debian's there) or on PATH: the push test cannot run")
		}
	}
	password := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	regPort := freePort(t)
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("ci-bot:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	regConfig := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%d\nauth:\n  htpasswd:\n    realm: test\n    path: %s\n",
		filepath.Join(dir, "data"), regPort, filepath.Join(dir, "htpasswd"))
	if err := os.WriteFile(filepath.Join(dir, "registry.yml"), []byte(regConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := exec.Command(registryBin, "serve", filepath.Join(dir, "registry.yml"))
	regLog := &syncBuffer{}
	reg.Stdout, reg.Stderr = regLog, regLog
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Process.Signal(syscall.SIGTERM); _ = reg.Wait() })
	registry := fmt.Sprintf("127.0.0.1:%d", regPort)
	waitFor(t, "the registry to answer", func() bool {
		res, err := http.Get("http://" + registry + "/v2/")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusUnauthorized
	})

	t.Setenv("FWH_E2E_REGISTRY_CREDS", "ci-bot:"+password)
	dataDir := t.TempDir()
	port := freePort(t)
	sum := sha256.Sum256([]byte(e2eToken))
	p := startConfigured(t, port, fmt.Sprintf(`port: %d
backend:
  local:
    data_dir: %s
    auth:
      tokens: [{sha256: %s, subject: e2e, name: E2E}]
    builds:
      builder: buildah
      builder_flags: ["%s"]
      build_flags: ["--isolation", "chroot", "--pull=never"]
      push_flags: ["--tls-verify=false"]
      base_image: %s
      registry: %s/e2e
      registry_secret: FWH_E2E_REGISTRY_CREDS
      timeout: 5m
`, port, dataDir, hex.EncodeToString(sum[:]), strings.Join(flags, `", "`), exampleBase, registry))
	p.token = e2eToken

	status, res := p.do(t, "POST", "/build-image?name=app", `{"pip_packages": ["numpy"]}`)
	image, _ := res["image_name"].(string)
	if status != 200 || !strings.HasPrefix(image, registry+"/e2e/app:") {
		t.Fatalf("build_image: %d %v", status, res)
	}
	name := runOf(t, res)
	if r := p.waitDone(t, name); r["phase"] != "succeeded" {
		t.Fatalf("build %v\n%s\n%s", r, readLogs(t, dataDir, name), regLog.String())
	}
	_, io := p.do(t, "GET", "/run/"+name+"/io", "")
	outputs, _ := io["outputs"].(map[string]any)
	digest, _ := outputs["digest"].(string)
	if outputs["pushed"] != true || !strings.HasPrefix(digest, "sha256:") || digest == outputs["image_id"] {
		t.Fatalf("outputs %v: want pushed, with the registry's digest", outputs)
	}
	// The registry serves the manifest under that digest.
	tag := image[strings.LastIndex(image, ":")+1:]
	req, _ := http.NewRequest("HEAD", "http://"+registry+"/v2/e2e/app/manifests/"+tag, nil)
	req.SetBasicAuth("ci-bot", password)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	got, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if got.StatusCode != http.StatusOK || got.Header.Get("Docker-Content-Digest") != digest {
		t.Errorf("the registry has %s: %d, digest %q; want %s", image, got.StatusCode, got.Header.Get("Docker-Content-Digest"), digest)
	}
	deadline := time.Now().Add(time.Second) // the server's log lines are written in batches
	for time.Now().Before(deadline) && !strings.Contains(p.stderr.String(), "run ended") {
		time.Sleep(50 * time.Millisecond)
	}
	for what, text := range map[string]string{"the run's logs": readLogs(t, dataDir, name), "the server's log": p.stderr.String()} {
		if strings.Contains(text, password) {
			t.Errorf("the registry password is in %s", what)
		}
	}
}
