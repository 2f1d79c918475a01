// Command lists measures the local backend with a million runs stored against the same with
// only a few: list_runs latency (newest first, by task, by phase, by label, the tenth page),
// get_run and durable run_task throughput, the server's start-up time and the database's size
// per run. The server is the real binary, started on a data dir this program seeded straight
// into SQLite (runs, their labels and attempt records, with the schema the binary made); this
// program is the load generator, in its own process.
//
//	go run ./bench/lists -binary bin/flyte-webhook [-runs 1000000] [-base 20000] [-rounds 3]
//
// Numbers, never pass/fail. Each round measures the small store, then the big one, so both
// meet the machine in the same state; the results are ranges over the rounds.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"

	"github.com/flyte-webhook/flyte-webhook/bench/internal/proc"
)

type options struct {
	bin      string
	runs     int
	base     int
	rounds   int
	requests int
	clients  int
	duration time.Duration
	keep     bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "binary", "", "the webhook binary (required)")
	flag.IntVar(&o.runs, "runs", 1_000_000, "runs in the big store")
	flag.IntVar(&o.base, "base", 20_000, "runs in the small store (also the get_run working set)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds (small store, then big, each)")
	flag.IntVar(&o.requests, "requests", 300, "list_runs requests per case and round")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients of the throughput phases")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each throughput phase runs")
	flag.BoolVar(&o.keep, "keep", false, "keep the data dirs (printed)")
	flag.Parse()
	if o.bin == "" {
		fmt.Fprintln(os.Stderr, "lists: -binary is required (make build; bin/flyte-webhook)")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "lists:", err)
		os.Exit(1)
	}
}

// store is one seeded data dir and what the measures ask of it.
type store struct {
	name    string
	dir     string
	runs    int
	names   []string // the get_run working set
	label   string   // a ci-job label value with runs
	seedDur time.Duration
	bytes   int64
}

func run(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	token := randomToken()
	ws, err := filepath.Abs("examples/workspace.yaml")
	if err != nil {
		return err
	}
	stores := []*store{{name: "small", runs: o.base}, {name: "big", runs: o.runs}}
	for _, s := range stores {
		if s.dir, err = os.MkdirTemp("", "flyte-webhook-lists-"+s.name+"-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(s.dir)
		} else {
			fmt.Println("data dir", s.name, s.dir)
		}
		if err := writeConfig(s.dir, ws, token); err != nil {
			return err
		}
		// The binary makes the schema (and its migrations) on an empty data dir.
		srv, err := startServer(bin, s.dir)
		if err != nil {
			return err
		}
		srv.stop()
		start := time.Now()
		if err := seed(s, o.base); err != nil {
			return fmt.Errorf("seed %s: %w", s.name, err)
		}
		s.seedDur = time.Since(start)
		fmt.Printf("RESULT store=%s runs=%d seeded_in=%s db_bytes=%d bytes_per_run=%.0f\n",
			s.name, s.runs, s.seedDur.Round(time.Second), s.bytes, float64(s.bytes)/float64(s.runs))
	}
	results := map[string]map[string][]float64{"small": {}, "big": {}}
	add := func(s *store, k string, v float64) { results[s.name][k] = append(results[s.name][k], v) }
	for round := 1; round <= o.rounds; round++ {
		for _, s := range stores {
			fmt.Printf("== round %d, %s store (%d runs)\n", round, s.name, s.runs)
			srv, err := startServer(bin, s.dir)
			if err != nil {
				return err
			}
			add(s, "startup_ms", float64(srv.Startup.Microseconds())/1000)
			c := &client{base: srv.URL, token: token, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
			cases := []struct{ name, query string }{
				{"newest_50", "limit=50"},
				{"by_task", "task=development/examples/t007&limit=50"},
				{"by_phase", "phase=failed&limit=50"},
				{"by_label", "label=team=data&limit=50"},
				{"by_label_rare", "label=ci-job=" + s.label + "&limit=50"},
			}
			for _, cs := range cases {
				lat, err := c.latencies(o.requests, func() error { _, err := c.list(cs.query); return err })
				if err != nil {
					srv.stop()
					return fmt.Errorf("%s: %w", cs.name, err)
				}
				p50, p99 := quantile(lat, 0.5), quantile(lat, 0.99)
				add(s, cs.name+"_p50_ms", p50)
				add(s, cs.name+"_p99_ms", p99)
				fmt.Printf("RESULT round=%d store=%s list=%s p50_ms=%.2f p99_ms=%.2f\n", round, s.name, cs.name, p50, p99)
			}
			// The tenth page: nine pages followed, the tenth timed.
			var tenth []float64
			for range max(o.requests/10, 10) {
				token := ""
				for range 9 {
					if token, err = c.list("limit=50" + pageParam(token)); err != nil {
						srv.stop()
						return err
					}
				}
				t0 := time.Now()
				if _, err := c.list("limit=50" + pageParam(token)); err != nil {
					srv.stop()
					return err
				}
				tenth = append(tenth, float64(time.Since(t0).Microseconds())/1000)
			}
			add(s, "tenth_page_p50_ms", quantile(tenth, 0.5))
			add(s, "tenth_page_p99_ms", quantile(tenth, 0.99))
			fmt.Printf("RESULT round=%d store=%s list=tenth_page p50_ms=%.2f p99_ms=%.2f\n", round, s.name, quantile(tenth, 0.5), quantile(tenth, 0.99))

			n, err := c.throughput(o.clients, o.duration, func(r *mrand.Rand) error {
				return c.getRun(s.names[r.IntN(len(s.names))])
			})
			if err != nil {
				srv.stop()
				return fmt.Errorf("get_run: %w", err)
			}
			add(s, "get_run_per_s", n)
			m, err := c.throughput(o.clients, o.duration, func(*mrand.Rand) error { return c.runTask() })
			if err != nil {
				srv.stop()
				return fmt.Errorf("run_task: %w", err)
			}
			add(s, "run_task_per_s", m)
			fmt.Printf("RESULT round=%d store=%s startup_ms=%.0f get_run_per_s=%.0f run_task_per_s=%.0f\n", round, s.name,
				float64(srv.Startup.Microseconds())/1000, n, m)
			srv.stop()
			if err := forgetNoops(s); err != nil {
				return err
			}
		}
	}
	fmt.Println("== summary: ranges over the rounds (small store / big store; big ÷ small)")
	keys := make([]string, 0, len(results["big"]))
	for k := range results["big"] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		sm, bg := results["small"][k], results["big"][k]
		fmt.Printf("SUMMARY %-24s %s / %s; ratio %s\n", k, span(sm), span(bg), ratioSpan(bg, sm))
	}
	return nil
}

func pageParam(token string) string {
	if token == "" {
		return ""
	}
	return "&page_token=" + url.QueryEscape(token)
}

func span(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f-%.2f", slices.Min(xs), slices.Max(xs))
}

// ratioSpan is the range of the per-round ratios a/b.
func ratioSpan(a, b []float64) string {
	var r []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			r = append(r, a[i]/b[i])
		}
	}
	return span(r)
}

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeConfig(dir, workspace, token string) error {
	sum := sha256.Sum256([]byte(token))
	cfg := fmt.Sprintf(`port: 0
log_level: warn
backend:
  local:
    workspace: %s
    data_dir: %s
    auth:
      tokens: [{sha256: %s, subject: bench, name: Bench}]
`, workspace, filepath.Join(dir, "data"), hex.EncodeToString(sum[:]))
	return os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
}

// server is the binary, running.
type server struct{ *proc.Process }

// startServer starts the binary on the data dir's config and waits for /health.
func startServer(bin, dir string) (*server, error) {
	log := &bytes.Buffer{}
	p, err := proc.Start(bin, filepath.Join(dir, "config.yaml"), nil, log, 5*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("the server did not start: %v: %s", err, log.String())
	}
	return &server{p}, nil
}

func (s *server) stop() { _ = s.Stop() }

var runNames = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// seed inserts s.runs finished runs straight into the database the binary made: a hundred
// tasks, mostly succeeded, fifty callers, a ci-job label shared by a hundred runs each and a
// team label on one run in ten, one attempt record each, created over the last twenty days
// (younger than the default retention, so the start-up sweep has nothing to delete). It
// keeps workingSet names for get_run and measures the file's size.
func seed(s *store, workingSet int) error {
	path := filepath.Join(s.dir, "data", "flyte-webhook.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var seq int64
	if err := db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM runs`).Scan(&seq); err != nil {
		return err
	}
	now := time.Now()
	span := 20 * 24 * time.Hour
	step := span / time.Duration(s.runs)
	first := now.Add(-span)
	every := max(1, s.runs/workingSet)
	const batch = 10_000
	rng := mrand.New(mrand.NewPCG(1, 2))
	phases := []string{"succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "failed", "aborted"}
	for i := 0; i < s.runs; i += batch {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		insRun, err := tx.Prepare(`INSERT INTO runs (name, seq, kind, domain, project, task, version, phase, attempts, error, inputs, outputs,
			created_at, started_at, ended_at, caller, labels) VALUES (?, ?, 'task', 'development', 'examples', ?, 'v1', ?, 1, ?, '{"name":"x"}', ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		insLabel, err := tx.Prepare(`INSERT INTO run_labels (key, value, created_at, seq, run) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		insAttempt, err := tx.Prepare(`INSERT INTO attempts (run, attempt, started_at, ended_at, outcome, error) VALUES (?, 1, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		for j := i; j < min(i+batch, s.runs); j++ {
			var b [13]byte
			_, _ = rand.Read(b[:])
			name := "r" + runNames.EncodeToString(b[:])[:20]
			seq++
			created := first.Add(time.Duration(j) * step).UnixNano()
			phase := phases[rng.IntN(len(phases))]
			errText, outputs := "", `{"greeting":"hello x"}`
			if phase != "succeeded" {
				errText, outputs = "boom", ""
			}
			labels := map[string]string{"ci-job": strconv.Itoa(j / 100)}
			if j%10 == 0 {
				labels["team"] = "data"
			}
			lj, _ := json.Marshal(labels)
			var out any = outputs
			if outputs == "" {
				out = nil
			}
			if _, err := insRun.Exec(name, seq, fmt.Sprintf("t%03d", j%100), phase, errText, out, created, created+1e9, created+2e9,
				fmt.Sprintf("ci-%02d", j%50), string(lj)); err != nil {
				return err
			}
			for k, v := range labels {
				if _, err := insLabel.Exec(k, v, created, seq, name); err != nil {
					return err
				}
			}
			if _, err := insAttempt.Exec(name, created+1e9, created+2e9, phase, errText); err != nil {
				return err
			}
			if j%every == 0 && len(s.names) < workingSet {
				s.names = append(s.names, name)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	s.label = strconv.Itoa(s.runs / 2 / 100)
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	s.bytes = st.Size()
	return nil
}

// forgetNoops deletes the runs the run_task phase added (and those it left queued, which the
// next start would execute while the lists are measured), so every round meets the store as
// it was seeded.
func forgetNoops(s *store) error {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, "data", "flyte-webhook.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{
		`DELETE FROM attempts WHERE run IN (SELECT name FROM runs WHERE task = 'noop')`,
		`DELETE FROM runs WHERE task = 'noop'`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	} {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// client is the load generator's HTTP client.
type client struct {
	base, token string
	hc          *http.Client
}

func (c *client) do(method, target, body string) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, target, res.StatusCode, b)
	}
	return b, nil
}

// list asks for one page and returns its next_page_token.
func (c *client) list(query string) (string, error) {
	b, err := c.do("GET", "/runs?"+query, "")
	if err != nil {
		return "", err
	}
	var page struct {
		Runs []json.RawMessage `json:"runs"`
		Next string            `json:"next_page_token"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return "", err
	}
	if len(page.Runs) == 0 {
		return "", errors.New("an empty page: the seeded runs are not listed")
	}
	return page.Next, nil
}

func (c *client) getRun(name string) error {
	_, err := c.do("GET", "/run/"+name, "")
	return err
}

func (c *client) runTask() error {
	_, err := c.do("POST", "/run-task/development/examples/noop", "{}")
	return err
}

// latencies runs f n times one after another (after a few to warm up) and returns each
// duration in milliseconds.
func (c *client) latencies(n int, f func() error) ([]float64, error) {
	for range 20 {
		if err := f(); err != nil {
			return nil, err
		}
	}
	out := make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		out = append(out, float64(time.Since(t0).Microseconds())/1000)
	}
	return out, nil
}

// throughput runs f from clients goroutines for d and returns calls per second.
func (c *client) throughput(clients int, d time.Duration, f func(*mrand.Rand) error) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				if err := f(r); err != nil {
					once.Do(func() { firstErr = err })
					cancel()
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), firstErr
}
