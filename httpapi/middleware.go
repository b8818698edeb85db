package httpapi

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/internal/logfield"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

// ServeHTTP is the whole middleware in one function, so that a request
// costs one recorder and no closures: it gives the request an id (the
// client's, if it is sane, so that one id follows a request through
// proxies, or a fresh one) and echoes it, checks the bearer token when
// tokens are configured (auth.go) and hands the token to the handlers in
// the request's context (tokenOf), refuses /v1 while the queue is not
// attached or the server drains, turns a panic into a 500 internal answer,
// and writes one access-log line at Info.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, start: time.Now()}
	rec.id = r.Header.Get(RequestIDHeader)
	if !saneRequestID(rec.id) {
		rec.id = newRequestID()
	}
	w.Header().Set(RequestIDHeader, rec.id)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // the documented way to abort a response on purpose
			}
			log := s.logger(rec)
			log.Error().Interface("panic", v).Bytes("stack", debug.Stack()).Msg("handler panicked")
			// Once the header is out, the status cannot change; the
			// truncated body tells the client something went wrong.
			if !rec.wroteHeader {
				s.writeError(rec, r, errPanic)
			}
		}
		s.observe(rec, r)
		if e := s.log.Info(); e != nil {
			e.Str("request_id", rec.id)
			if rec.token != "" {
				e.Str("token_name", rec.token)
			}
			e.Str("method", r.Method).
				Str("path", r.URL.Path).
				Int("status", rec.statusOr200()).
				Float64("duration_ms", logfield.Millis(time.Since(rec.start))).
				Int64("bytes", rec.bytes).
				Msg("request")
		}
	}()
	// Authentication comes first, so that a client without a token learns
	// nothing, not even that the queue is still recovering.
	t, allowed := s.authorize(rec, r)
	if t != nil {
		rec.token = t.name
	}
	if !allowed {
		return
	}
	r = withToken(r, t)
	if (r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/")) && !s.admit(rec, r) {
		return
	}
	s.router.ServeHTTP(rec, r)
}

// saneRequestID accepts 1..128 printable ASCII characters: anything else
// could forge log lines or bloat them.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hex characters. Ids must be unique in the
// logs, not secret, so the fast generator does.
func newRequestID() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// logger returns the request's logger, which carries its id. It is built
// only when something is logged: most requests log nothing but the access
// line.
func (s *Server) logger(w http.ResponseWriter) zerolog.Logger {
	if rec := recorderOf(w); rec != nil {
		return s.log.With().Str("request_id", rec.id).Logger()
	}
	return s.log
}

// recorder remembers the status and size of an answer, and the request's
// id and start.
type recorder struct {
	http.ResponseWriter
	id          string
	start       time.Time
	status      int
	wroteHeader bool
	bytes       int64

	// route is the route that took the request, nil when none did
	// (named sets it).
	route *route
	// answered is when the status was written: for a submit, just after
	// its fsync, before the body goes out.
	answered time.Time

	// token is the name of the request's token, never its secret; empty
	// when no tokens are configured or the path is open.
	token string
}

func (w *recorder) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
		w.answered = time.Now()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recorder) statusOr200() int {
	if w.wroteHeader {
		return w.status
	}
	return http.StatusOK
}
