package local_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperApp is a workspace app whose program is this test binary serving HTTP (helper kind
// "app", see serveApp), in one of the modes below.
type helperApp struct {
	name string
	// mode (FWH_APP_MODE): "" serves the conformance fixture; "crash" exits 1 at once;
	// "unhealthy" serves, but its health path answers 503; "stubborn" ignores SIGTERM;
	// "grandchild" first starts a grandchild in its process group and records both pids in
	// $FWH_DIR/<app>.pids.
	mode  string
	extra string // more YAML keys, indented by four spaces
	env   string // more env entries, as "K: V"
}

// fixtureApps are the conformance suite's apps (see controlplanetest's package doc).
var fixtureApps = []helperApp{{name: "echo-app"}}

// appsYAML is the apps key of a workspace declaring apps ("" for none).
func appsYAML(t testing.TB, apps []helperApp) string {
	t.Helper()
	if len(apps) == 0 {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("apps:\n")
	for _, a := range apps {
		env := "FWH_HELPER: app, FWH_APP_MODE: " + strconv.Quote(a.mode)
		if a.env != "" {
			env += ", " + a.env
		}
		fmt.Fprintf(&b, "  - name: %s\n    domain: test\n    project: conformance\n    command: [%q]\n    health_path: /healthz\n    env: {%s}\n%s",
			a.name, exe, env, a.extra)
	}
	return b.String()
}

// serveApp is the app helper: the conformance fixture's endpoints, on 127.0.0.1:$PORT.
//
//	GET /healthz          200 (503 in mode "unhealthy")
//	/echo                 {"method", "path", "query": {k: first value}, "body": the JSON body or
//	                      null, "authorization": the Authorization header or "", and (beyond
//	                      the fixture) "headers": {name: first value}}
//	/env                  {"env": its environment, "pid": its pid, "pgid": its process group}
//	/text                 text/plain "hello"
//	/status/{code}        that status, {"status": code}
//	/redirect?to=L&code=C status C (default 302) with Location L
//	/binary               application/octet-stream bytes that are not text
//	/big?n=N              N bytes of "x", text/plain
//	/slow                 answers when the request is cancelled (or after a minute)
//	/hangup               closes the connection without an answer
func serveApp() int {
	mode := os.Getenv("FWH_APP_MODE")
	switch mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "boom: this app always crashes")
		return 1
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
	case "grandchild":
		gc := exec.Command(os.Args[0])
		gc.Env = append(os.Environ(), "FWH_HELPER=grandchild")
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		f := filepath.Join(os.Getenv("FWH_DIR"), os.Getenv("FLYTE_WEBHOOK_APP")+".pids")
		pids := fmt.Sprintf("%d %d", os.Getpid(), gc.Process.Pid)
		if err := os.WriteFile(f+".tmp", []byte(pids), 0o600); err != nil || os.Rename(f+".tmp", f) != nil {
			return 1
		}
	}
	fmt.Println("app listening on port", os.Getenv("PORT"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if mode == "unhealthy" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		query := map[string]string{}
		for k, v := range r.URL.Query() {
			query[k] = v[0]
		}
		headers := map[string]string{}
		for k, v := range r.Header {
			headers[k] = v[0]
		}
		var body any
		raw, _ := io.ReadAll(r.Body)
		if len(raw) > 0 {
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.UseNumber()
			if err := dec.Decode(&body); err != nil {
				body = "not JSON: " + string(raw)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"method": r.Method, "path": r.URL.EscapedPath(), "query": query, "body": body,
			"authorization": r.Header.Get("Authorization"), "headers": headers})
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		pgid, _ := syscall.Getpgid(os.Getpid())
		writeJSON(w, http.StatusOK, map[string]any{"env": os.Environ(), "pid": os.Getpid(), "pgid": pgid})
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "hello")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			code = http.StatusBadRequest
		}
		writeJSON(w, code, map[string]any{"status": code})
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		if code == 0 {
			code = http.StatusFound
		}
		w.Header().Set("Location", r.URL.Query().Get("to"))
		writeJSON(w, code, map[string]any{"moved": true})
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0x89, 'P', 'N', 'G', 0, 0xff, 0xfe})
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat("x", n))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		writeJSON(w, http.StatusOK, map[string]any{"slow": true})
	})
	mux.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Served until the supervisor stops it (SIGTERM ends the process) or the bound below:
	// a helper a failing test leaves behind goes away by itself.
	go func() {
		time.Sleep(10 * time.Minute)
		os.Exit(5)
	}()
	return serveErr(http.Serve(ln, mux))
}

func serveErr(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
