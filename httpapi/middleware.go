package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

// withRequestID gives every request an id: the client's, if it is sane, so
// that one id follows a request through proxies, or a fresh one. The id is
// echoed in the answer and attached to the request's logger.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		log := s.log.With().Str("request_id", id).Logger()
		next.ServeHTTP(w, r.WithContext(log.WithContext(r.Context())))
	})
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

// newRequestID returns 16 random hex characters.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// loggerOf returns the request's logger, which carries its id.
func loggerOf(r *http.Request) *zerolog.Logger { return zerolog.Ctx(r.Context()) }

// logRequests writes one Info line per request once it is answered.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		loggerOf(r).Info().
			Str("method", r.Method).
			Str("path", r.URL.Path).
			Int("status", rec.statusOr200()).
			Dur("duration", time.Since(start)).
			Int64("bytes", rec.bytes).
			Msg("request")
	})
}

// recoverPanics turns a panicking handler into a 500 internal answer and an
// Error log with the stack, instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*recorder)
		if !ok {
			rec = &recorder{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // the documented way to abort a response on purpose
			}
			loggerOf(r).Error().Interface("panic", v).Bytes("stack", debug.Stack()).Msg("handler panicked")
			// Once the header is out, the status cannot change; the
			// truncated body tells the client something went wrong.
			if !rec.wroteHeader {
				s.writeError(rec, r, errPanic)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder remembers the status and size of an answer.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	bytes       int64
}

func (w *recorder) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
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
