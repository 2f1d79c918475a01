// Command ceiling is the yardstick for bench/load.sh: it answers every request with the same
// fixed JSON body (the size of a get_run answer), either from a bare net/http handler or from
// a bare gin route, and does nothing else. Measured with the same wrk settings on the same
// machine, it shows how many requests per second are left for real work: the server and wrk
// share the machine's cores.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
)

// body is shaped like a finished run as get_run answers it.
const body = `{"attempts":1,"created_at":"2026-11-27T02:42:22.055556114Z","done":true,"ended_at":"2026-11-27T02:42:22.060819271Z","name":"rliid6he3iw54gyyxeaj2","phase":"succeeded","started_at":"2026-11-27T02:42:22.057039591Z","url":"http://127.0.0.1:18181/run/rliid6he3iw54gyyxeaj2"}` + "\n"

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	useGin := flag.Bool("gin", false, "serve through a bare gin route instead of net/http")
	flag.Parse()
	b := []byte(body)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	if *useGin {
		gin.SetMode(gin.ReleaseMode)
		e := gin.New()
		e.GET("/run/:name", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", b) })
		h = e
	}
	log.Fatal(http.ListenAndServe(*addr, h))
}
