package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/ticketq/ticketq/internal/strictjson"
	"github.com/ticketq/ticketq/job"
)

// readBody decodes a JSON body into v, strictly: unknown fields, a second
// value or trailing garbage are refused, so that a typo in a field name is
// an error instead of a silently ignored option, and so are the faults
// that encoding/json lets through (internal/strictjson): a key given
// twice, a field name in the wrong case, a lone surrogate. The body may
// come gzipped (body.go). When required is false an empty body is
// accepted and leaves v alone. The body was capped by serve.
func readBody(r *http.Request, v any, required bool) error {
	if !required && r.ContentLength == 0 {
		return nil // no body where none is needed
	}
	if err := checkMediaType(r); err != nil {
		return err
	}
	body, err := bodyReader(r, maxBodyOf(r))
	if err != nil {
		return jsonError(err)
	}
	// Decode straight from the body: reading it whole first would copy it
	// twice (once into a slice, once more into the decoder's buffer).
	dec := json.NewDecoder(strictjson.NewReader(body, v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) && !required {
			return nil // a body of unknown length that was empty
		}
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if readFault(err) {
			return jsonError(err)
		}
		return invalidf("invalid_json", "unexpected data after the JSON value at offset %d; send exactly one JSON object", dec.InputOffset())
	}
	return nil
}

// maxBodyOf returns the body cap of the request's server, which serve
// put around the body.
func maxBodyOf(r *http.Request) int64 {
	if c, ok := r.Body.(*bodyCap); ok {
		return c.limit
	}
	return DefaultMaxBodyBytes
}

// bodyCap is a body behind http.MaxBytesReader that remembers the cap,
// so that a compressed body can be capped again once decompressed.
type bodyCap struct {
	io.ReadCloser
	limit int64
}

// readFault reports whether err came from reading the body rather than
// from the JSON in it.
func readFault(err error) bool {
	var tooLarge *http.MaxBytesError
	var inflated *inflatedTooLarge
	var strict *strictjson.Error
	var notUTF8 invalidUTF8
	var truncated *cutShort
	var encoding *badEncoding
	var netErr net.Error
	return errors.As(err, &tooLarge) || errors.As(err, &inflated) || errors.As(err, &strict) ||
		errors.As(err, &notUTF8) || errors.As(err, &truncated) || errors.As(err, &encoding) || errors.As(err, &netErr)
}

func checkMediaType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return errorf(errMediaType, "the request has no Content-Type; send JSON with -H 'Content-Type: application/json' or curl --json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errorf(errMediaType, "Content-Type %q is not supported; send JSON with -H 'Content-Type: application/json' or curl --json", clip(ct))
	}
	return nil
}

// jsonError explains a decoding error in terms of the request body.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	var inflated *inflatedTooLarge
	var notUTF8 invalidUTF8
	var strict *strictjson.Error
	var truncated *cutShort
	var encoding *badEncoding
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge), errors.Is(err, errEncoding):
		return err
	case errors.As(err, &inflated):
		return errorf(errInflatedTooLarge, "the body decompresses to more than the limit of %d bytes (--max-body); nothing was stored", inflated.limit)
	case errors.As(err, &truncated) && truncated.want >= 0:
		return invalidf("body_truncated", "the body ended after %d of the %d bytes its Content-Length announced; nothing was stored", truncated.read, truncated.want)
	case errors.As(err, &truncated):
		return invalidf("body_truncated", "the body ended after %d bytes, before its last chunk; nothing was stored", truncated.read)
	case errors.As(err, &encoding):
		return invalidf("invalid_encoding", "%v; nothing was stored", encoding)
	case errors.As(err, &netErr) && netErr.Timeout():
		// The http.Server's ReadTimeout passed while the body trickled in.
		return errorf(errReadTimeout, "the request body did not arrive in time (the server's --read-timeout); nothing was stored")
	case errors.As(err, &notUTF8):
		return invalidf("invalid_json", "the body is not valid UTF-8 (at offset %d); JSON must be UTF-8", notUTF8.offset)
	case errors.As(err, &strict) && strict.Kind == strictjson.DuplicateKey:
		return invalidf("duplicate_key", "key %q is given twice %s; each key may appear once per object", clip(strict.Key), strict.Where())
	case errors.As(err, &strict) && strict.Kind == strictjson.CaseMismatch:
		return invalidf("unknown_field", "unknown field %q %s; field names are case-sensitive: %q", clip(strict.Key), strict.Where(), strict.Want)
	case errors.As(err, &strict):
		return invalidf("invalid_json", "the body has a lone surrogate escape (\\ud800-\\udfff without its pair) %s; JSON text must be Unicode (RFC 8259, section 8.2)", strict.Where())
	case errors.Is(err, io.EOF):
		return invalidf("invalid_json", "the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidf("invalid_json", "the body ends in the middle of a JSON value")
	case errors.As(err, &syntax):
		return invalidf("invalid_json", "the body is not valid JSON at offset %d: %v", syntax.Offset, err)
	case errors.As(err, &typ) && typ.Field == "":
		return invalidf("invalid_json", "the body must be a JSON object, not %s", jsonValue(typ.Value))
	case errors.As(err, &typ):
		// Field is the Go path, which names the embedded struct too.
		field := strings.ReplaceAll(typ.Field, "jobFields.", "")
		return invalidf("invalid_request", "field %q must be %s, not %s", field, jsonType(typ.Type), jsonValue(typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for this one.
		return invalidf("unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return invalidf("invalid_json", "%v", err)
}

// jsonType names the type a request field wants the way a client sees it,
// in JSON's terms: a message must not name a Go type.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int64:
		// The type decodeNumber names for a whole number too large to be
		// exact in JSON.
		return "an integer from -2^53 to 2^53"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a finite number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[[]jobFields]() {
			return "an array of jobs"
		}
		return "an array"
	}
	return "an object"
}

// jsonValue names the kind of value encoding/json found ("bool", "array",
// "number 1.5") in JSON's terms.
func jsonValue(v string) string {
	switch v {
	case "bool":
		return "a boolean"
	case "string", "number":
		return "a " + v
	case "array", "object":
		return "an " + v
	}
	return v
}

// wholeNumber is an integer field of a request body. JSON has numbers, not
// integers: 1e3 and 1000.0 are the integer 1000, as JSON Schema (and so
// the API's description) counts them, so every spelling of a whole number
// is taken and then held to the field's range like any other, with the
// same message.
type wholeNumber int

// UnmarshalJSON implements json.Unmarshaler.
func (n *wholeNumber) UnmarshalJSON(b []byte) error {
	v, err := decodeNumber[int](b)
	if err == nil {
		*n = wholeNumber(v)
	}
	return err
}

// maxExactInt is the largest integer that every JSON parser reads exactly
// (RFC 8259, section 6).
const maxExactInt = 1 << 53

// decodeNumber reads a JSON number into an int (it must be whole, and
// within ±2^53) or a float64 (it must be finite). It returns
// *json.UnmarshalTypeError, which encoding/json completes with the field's
// name, so that jsonError names the field.
func decodeNumber[T int | float64](b []byte) (T, error) {
	want := reflect.TypeFor[T]()
	switch {
	case len(b) == 0:
		return 0, &json.UnmarshalTypeError{Value: "nothing", Type: want}
	case string(b) == "null":
		return 0, nil // by convention, null leaves the value alone
	case b[0] == '"':
		return 0, &json.UnmarshalTypeError{Value: "string", Type: want}
	case b[0] == 't' || b[0] == 'f':
		return 0, &json.UnmarshalTypeError{Value: "bool", Type: want}
	case b[0] == '{':
		return 0, &json.UnmarshalTypeError{Value: "object", Type: want}
	case b[0] == '[':
		return 0, &json.UnmarshalTypeError{Value: "array", Type: want}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	literal := "number " + clip(string(b))
	if math.IsInf(f, 0) || err != nil && !errors.Is(err, strconv.ErrRange) {
		// Past ±1.8e308: no number a limit could take.
		return 0, &json.UnmarshalTypeError{Value: literal, Type: reflect.TypeFor[float64]()}
	}
	var v T
	switch any(v).(type) {
	case int:
		if f != math.Trunc(f) {
			return 0, &json.UnmarshalTypeError{Value: literal, Type: want}
		}
		if math.Abs(f) > maxExactInt {
			return 0, &json.UnmarshalTypeError{Value: literal, Type: reflect.TypeFor[int64]()}
		}
	}
	return T(f), nil
}

// ticketParam parses the {ticket} of the path.
func ticketParam(r *http.Request) (job.Ticket, error) {
	t, err := job.ParseTicket(mux.Vars(r)["ticket"])
	if err != nil {
		return 0, withCode("invalid_ticket", err)
	}
	return t, nil
}

// queueParam validates the {queue} of the path.
func queueParam(r *http.Request) (string, error) {
	name := mux.Vars(r)["queue"]
	return name, job.ValidateQueueName(name)
}

// query returns the query parameters, refusing any outside allowed and any
// given twice: a misspelt filter must not silently list everything.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidf("invalid_request", "the query string is malformed: %v", err)
	}
	for name, vs := range vals {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return nil, invalidf("unknown_field", "unknown query parameter %q; this route takes none", clip(name))
			}
			return nil, invalidf("unknown_field", "unknown query parameter %q; this route takes %s", clip(name), strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, invalidf("invalid_request", "query parameter %q is given %d times", name, len(vs))
		}
	}
	return vals, nil
}

// parseDuration parses a Go duration ("90s", "1h30m"). Its range, a
// negative one included, is the field's own rule (job.ValidateDelay,
// job.ValidateTimeout, the queue's lease limits…), which the caller
// applies: one rule and one message per field.
func parseDuration(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, invalidf("invalid_request", "%s %q is not a duration such as \"30s\" or \"1h30m\"", field, clip(s))
	}
	return d, nil
}

// clip keeps hostile input from flooding error messages and logs.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
