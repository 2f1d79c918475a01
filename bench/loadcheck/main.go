// Command loadcheck measures what wrk cannot: how long a no-op run takes from accepted to
// succeeded, and how many no-op executions per second the server sustains. It reads the
// server's own timestamps (created_at, ended_at), so polling does not blur the numbers.
//
//	go run ./bench/loadcheck -url http://127.0.0.1:18080 -token T -task development/examples/noop -n 1000
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

type run struct {
	Name      string    `json:"name"`
	Phase     string    `json:"phase"`
	Done      bool      `json:"done"`
	CreatedAt time.Time `json:"created_at"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
}

func main() {
	base := flag.String("url", "http://127.0.0.1:18080", "server URL")
	token := flag.String("token", "", "bearer token")
	task := flag.String("task", "development/examples/noop", "domain/project/name of a no-op task")
	n := flag.Int("n", 1000, "runs to start for the throughput measurement")
	single := flag.Int("single", 50, "runs started one at a time for the latency measurement")
	flag.Parse()
	c := &client{base: *base, token: *token, http: &http.Client{Timeout: 30 * time.Second}}

	// Latency: one run at a time, so queueing does not count.
	var lat []time.Duration
	for i := 0; i < *single; i++ {
		name, err := c.start(*task)
		check(err)
		r, err := c.wait(name)
		check(err)
		lat = append(lat, r.EndedAt.Sub(r.CreatedAt))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("RESULT accepted_to_succeeded_p50_ms=%.2f p90_ms=%.2f max_ms=%.2f (n=%d, one at a time)\n",
		ms(lat[len(lat)/2]), ms(lat[len(lat)*9/10]), ms(lat[len(lat)-1]), len(lat))

	// Throughput: start n runs from 16 clients, wait for all, rate = n / (last end - first created).
	names := make([]string, *n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				name, err := c.start(*task)
				check(err)
				names[i] = name
			}
		}()
	}
	for i := 0; i < *n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	var first, last time.Time
	failed := 0
	for _, name := range names {
		r, err := c.wait(name)
		check(err)
		if r.Phase != "succeeded" {
			failed++
		}
		if first.IsZero() || r.CreatedAt.Before(first) {
			first = r.CreatedAt
		}
		if r.EndedAt.After(last) {
			last = r.EndedAt
		}
	}
	span := last.Sub(first)
	fmt.Printf("RESULT executions_per_s=%.0f (n=%d in %.2fs, %d not succeeded)\n", float64(*n)/span.Seconds(), *n, span.Seconds(), failed)
}

type client struct {
	base, token string
	http        *http.Client
}

func (c *client) do(method, path string, body []byte, out any) error {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

func (c *client) start(task string) (string, error) {
	var r run
	err := c.do("POST", "/run-task/"+task, []byte(`{}`), &r)
	return r.Name, err
}

func (c *client) wait(name string) (run, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var r run
		if err := c.do("GET", "/run/"+name, nil, &r); err != nil {
			return r, err
		}
		if r.Done {
			return r, nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return run{}, fmt.Errorf("run %s did not finish in 2 minutes", name)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadcheck:", err)
		os.Exit(1)
	}
}
