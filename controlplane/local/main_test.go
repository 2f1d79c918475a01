package local_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// TestMain doubles as the tasks' program (the helper-process pattern): when FWH_HELPER is set,
// the test binary is a task run by the backend under test, not a test run.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "buildah" { // the stand-in builder (fakebuilder_test.go)
		os.Exit(fakeBuildah(os.Args[1:]))
	}
	if h := os.Getenv("FWH_HELPER"); h != "" {
		os.Exit(helper(h))
	}
	if os.Getenv("FWH_SERVER") != "" {
		os.Exit(server())
	}
	if os.Getenv("FWH_APP_SERVER") != "" {
		os.Exit(appServer())
	}
	// The call_app tests serve impl's handler: gin prints every route in its debug mode.
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

func helper(kind string) int {
	in := map[string]any{}
	if raw, err := os.ReadFile(os.Getenv("FLYTE_WEBHOOK_INPUTS")); err == nil {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		_ = dec.Decode(&in)
	}
	out := func(v string) int {
		if err := os.WriteFile(os.Getenv("FLYTE_WEBHOOK_OUTPUTS"), []byte(v), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	num := func(k string) int64 {
		n, _ := in[k].(json.Number).Int64()
		return n
	}
	switch kind {
	case "app":
		return serveApp()
	case "echo":
		parts := make([]string, num("times"))
		for i := range parts {
			parts[i] = "hello " + in["name"].(string)
			fmt.Println(parts[i]) // a line per greeting in its log (the conformance suite's follow cases)
		}
		js, _ := json.Marshal(map[string]string{"greeting": strings.Join(parts, " ")})
		return out(string(js))
	case "sum":
		a, _ := new(big.Int).SetString(in["a"].(json.Number).String(), 10)
		b, _ := new(big.Int).SetString(in["b"].(json.Number).String(), 10)
		return out(`{"sum":` + new(big.Int).Add(a, b).String() + `}`)
	case "sleep":
		time.Sleep(time.Duration(num("seconds")) * time.Second)
		return out(fmt.Sprintf(`{"slept":%d}`, num("seconds")))
	case "fail":
		fmt.Fprintln(os.Stderr, "boom: this task always fails")
		return 2
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		time.Sleep(time.Minute)
		return 0
	case "flaky":
		if os.Getenv("FLYTE_WEBHOOK_ATTEMPT") == "1" {
			fmt.Fprintln(os.Stderr, "first attempt fails")
			return 1
		}
		return out(`{"attempt":` + os.Getenv("FLYTE_WEBHOOK_ATTEMPT") + `}`)
	case "badout":
		return out(`{"greeting": 3}`)
	case "mixed":
		// Both streams, a line split across writes, a CRLF line, and a last line without its
		// newline.
		fmt.Fprint(os.Stdout, "out 1\nout ")
		fmt.Fprint(os.Stdout, "2\r\n")
		fmt.Fprintln(os.Stderr, "err 1")
		fmt.Fprint(os.Stdout, "tail")
		return 0
	case "chatty":
		for i := 0; i < 10000; i++ {
			fmt.Println(strings.Repeat("x", 100))
		}
		return 0
	case "env":
		js, _ := json.Marshal(map[string]string{"env": strings.Join(os.Environ(), "\n")})
		return out(string(js))
	case "count":
		// Records its start and end so a test can count how many ran at once.
		f := filepath.Join(os.Getenv("FWH_DIR"), os.Getenv("FLYTE_WEBHOOK_RUN"))
		start := time.Now().UnixNano()
		time.Sleep(300 * time.Millisecond)
		end := time.Now().UnixNano()
		_ = os.WriteFile(f, []byte(strconv.FormatInt(start, 10)+" "+strconv.FormatInt(end, 10)), 0o600)
		return 0
	case "counted":
		// Leaves a mark per execution, so a test can count how often the task really ran.
		_ = os.WriteFile(filepath.Join(os.Getenv("FWH_DIR"), os.Getenv("FLYTE_WEBHOOK_RUN")), nil, 0o600)
		time.Sleep(200 * time.Millisecond)
		js, _ := json.Marshal(map[string]string{"greeting": "hello " + in["name"].(string)})
		return out(string(js))
	case "hang-once":
		// Attempt 1 starts a grandchild in its process group, records both pids and hangs;
		// later attempts succeed at once.
		attempt := os.Getenv("FLYTE_WEBHOOK_ATTEMPT")
		if attempt != "1" {
			return out(`{"attempt":` + attempt + `}`)
		}
		gc := exec.Command(os.Args[0])
		gc.Env = append(os.Environ(), "FWH_HELPER=grandchild")
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pids := fmt.Sprintf("%d %d", os.Getpid(), gc.Process.Pid)
		f := filepath.Join(os.Getenv("FWH_DIR"), os.Getenv("FLYTE_WEBHOOK_RUN")+".pids")
		if err := os.WriteFile(f+".tmp", []byte(pids), 0o600); err != nil || os.Rename(f+".tmp", f) != nil {
			return 1
		}
		time.Sleep(time.Minute)
		return 0
	case "gate":
		// Attempt 1 waits until the test makes <FWH_DIR>/<run>.open (bounded, so a failing test
		// leaves nothing behind), then fails when FWH_GATE_FAIL is set; later attempts go at
		// once. Outputs the attempt number.
		attempt := os.Getenv("FLYTE_WEBHOOK_ATTEMPT")
		if attempt == "1" {
			gate := filepath.Join(os.Getenv("FWH_DIR"), os.Getenv("FLYTE_WEBHOOK_RUN")+".open")
			for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
				if _, err := os.Stat(gate); err == nil {
					break
				}
				if time.Now().After(deadline) {
					return 4
				}
			}
		}
		if attempt == "1" && os.Getenv("FWH_GATE_FAIL") != "" {
			fmt.Fprintln(os.Stderr, "the first attempt fails once its gate opens")
			return 1
		}
		return out(`{"attempt":` + attempt + `}`)
	case "grandchild":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper", kind)
	return 3
}
