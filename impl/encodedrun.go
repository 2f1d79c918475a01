package impl

import (
	"encoding/json"
	"net/http"

	"github.com/flyte-webhook/flyte-webhook/gen"
)

// A finished run never changes, and polling it (dashboards, a CI job's last look) is the most
// common request there is, so get_run keeps the encoded answer of recently finished runs. Only
// the encoding is saved: every request is still validated, authenticated by the backend and
// checked against the allowlists before the answer is chosen. The bytes are exactly what the
// generated response would write. They are kept in a boundedcache of doneCacheSize.

const doneCacheSize = 4096

// encodedRun is a get_run 200 answer encoded once; it writes what
// gen.GetRun200JSONResponse.VisitGetRunResponse would (json.Encoder adds the newline).
type encodedRun []byte

func (r encodedRun) VisitGetRunResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(r)
	return err
}

func encodeRun(resp gen.RunResponse) (encodedRun, error) {
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
