package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
)

// errorCase is one request that must be refused without changing anything.
type errorCase struct {
	name         string
	method, path string
	body         string
	header       map[string]string // nil: JSON Content-Type when there is a body
	status       int
	code         string
	allow        string // the Allow header of a 405
	retryAfter   string
	message      string // a part of the message, where it is the point
}

// Ensure that every refused request answers its documented status and code
// as JSON, and leaves the stored state exactly as it was.
func TestServer_Errors(t *testing.T) {
	tb := setup(t, func(q *ticketq.Queue) {
		must(t, q.Configure("small", ticketq.QueueOptions{MaxQueued: 1}))
	})
	queued := tb.submit(t, "q", `{"payload": 1}`)
	canceled := tb.submit(t, "q", `{"payload": 2}`)
	tb.do(t, http.MethodDelete, "/v1/jobs/"+canceled, "").expect(t, http.StatusOK)
	tb.submit(t, "small", `{"payload": 3}`)
	succeeded := tb.submit(t, "done", `{"payload": 4}`)
	leased := tb.do(t, http.MethodPost, "/v1/queues/done/leases", `{}`).expect(t, http.StatusOK)
	lease := leased["jobs"].([]any)[0].(map[string]any)["lease"].(string)
	tb.do(t, http.MethodPost, "/v1/jobs/"+succeeded+"/ack", fmt.Sprintf(`{"lease": %q}`, lease)).expect(t, http.StatusOK)
	tb.submit(t, "q", `{"payload": {"a":1}, "idempotency_key": "used", "priority": 3, "delay": "1h"}`)

	const submit = "/v1/queues/q/jobs"
	text := map[string]string{"Content-Type": "text/plain"}
	none := map[string]string{}
	gzipped := map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}
	big := `{"payload": "` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`
	overBatch := `{"jobs": [` + strings.Repeat(`{"payload": 0},`, httpapi.DefaultMaxBatch) + `{"payload": 0}]}`
	cases := []errorCase{
		// 400: the body.
		{name: "TruncatedJSON", method: "POST", path: submit, body: `{"payload":`, status: 400, code: "invalid_json"},
		{name: "BadJSON", method: "POST", path: submit, body: `{"payload": nope}`, status: 400, code: "invalid_json"},
		{name: "EmptyBody", method: "POST", path: submit, header: map[string]string{"Content-Type": "application/json"}, status: 400, code: "invalid_json"},
		{name: "NotAnObject", method: "POST", path: submit, body: `[{"payload": 1}]`, status: 400, code: "invalid_json"},
		{name: "UnknownField", method: "POST", path: submit, body: `{"payload": 1, "priorty": 5}`, status: 400, code: "unknown_field"},
		{name: "UnknownFieldInBatch", method: "POST", path: submit, body: `{"jobs": [{"payload": 1, "jobs": []}]}`, status: 400, code: "unknown_field"},
		{name: "TrailingValue", method: "POST", path: submit, body: `{"payload": 1} {"payload": 2}`, status: 400, code: "invalid_json"},
		{name: "TrailingGarbage", method: "POST", path: submit, body: `{"payload": 1}x`, status: 400, code: "invalid_json"},
		{name: "MissingPayload", method: "POST", path: submit, body: `{"priority": 1}`, status: 400, code: "invalid_request"},
		{name: "WrongType", method: "POST", path: submit, body: `{"payload": 1, "priority": "high"}`, status: 400, code: "invalid_request"},
		{name: "BadDelay", method: "POST", path: submit, body: `{"payload": 1, "delay": "soon"}`, status: 400, code: "invalid_request"},
		// A negative duration breaks the field's one rule, with its one
		// message: the range.
		{name: "NegativeDelay", method: "POST", path: submit, body: `{"payload": 1, "delay": "-1s"}`, status: 400, code: "invalid_request", message: "delay -1s is outside 0s..8784h0m0s"},
		{name: "HugeDelay", method: "POST", path: submit, body: `{"payload": 1, "delay": "10000h"}`, status: 400, code: "invalid_request"},
		{name: "BadTimeout", method: "POST", path: submit, body: `{"payload": 1, "timeout": "30"}`, status: 400, code: "invalid_request"},
		{name: "NegativeTimeout", method: "POST", path: submit, body: `{"payload": 1, "timeout": "-5m"}`, status: 400, code: "invalid_request", message: "timeout -5m0s is outside 1s..168h0m0s"},
		{name: "DelayAndRunAt", method: "POST", path: submit, body: `{"payload": 1, "delay": "1s", "run_at": "2030-01-02T15:04:05Z"}`, status: 400, code: "invalid_request"},
		{name: "BadRunAt", method: "POST", path: submit, body: `{"payload": 1, "run_at": "tomorrow"}`, status: 400, code: "invalid_request"},
		{name: "PriorityTooHigh", method: "POST", path: submit, body: `{"payload": 1, "priority": 101}`, status: 400, code: "invalid_request"},
		{name: "PriorityTooLow", method: "POST", path: submit, body: `{"payload": 1, "priority": -101}`, status: 400, code: "invalid_request"},
		{name: "NegativeMaxAttempts", method: "POST", path: submit, body: `{"payload": 1, "max_attempts": -1}`, status: 400, code: "invalid_request"},
		{name: "JobAndBatch", method: "POST", path: submit, body: `{"payload": 1, "jobs": [{"payload": 2}]}`, status: 400, code: "invalid_request"},
		{name: "BatchOverLimit", method: "POST", path: submit, body: overBatch, status: 400, code: "batch_too_large"},
		{name: "EmptyBatch", method: "POST", path: submit, body: `{"jobs": []}`, status: 400, code: "invalid_request"},
		{name: "BatchMissingPayload", method: "POST", path: submit, body: `{"jobs": [{"payload": 1}, {}]}`, status: 400, code: "invalid_request"},
		{name: "BatchOneBadJob", method: "POST", path: submit, body: `{"jobs": [{"payload": 1}, {"payload": 2, "priority": 1000}]}`, status: 400, code: "invalid_request"},
		{name: "BadQueueName", method: "POST", path: "/v1/queues/bad!name/jobs", body: `{"payload": 1}`, status: 400, code: "invalid_request"},
		{name: "QueueNameNUL", method: "POST", path: "/v1/queues/a%00b/jobs", body: `{"payload": 1}`, status: 400, code: "invalid_request"},
		{name: "QueueNameNotUTF8", method: "POST", path: "/v1/queues/a%ff%fe/jobs", body: `{"payload": 1}`, status: 400, code: "invalid_request"},
		{name: "QueueNameUnicode", method: "POST", path: "/v1/queues/caf%C3%A9/jobs", body: `{"payload": 1}`, status: 400, code: "invalid_request"},
		{name: "QueueNameDotDot", method: "POST", path: "/v1/queues/%2e%2e/jobs", body: `{"payload": 1}`, status: 400, code: "invalid_request"},
		{name: "QueueNameEncodedSlash", method: "POST", path: "/v1/queues/a%2Fb/jobs", body: `{"payload": 1}`, status: 404, code: "not_found"},
		{name: "QueueNameTooLong", method: "POST", path: "/v1/queues/" + strings.Repeat("q", 129) + "/jobs", body: `{"payload": 1}`, status: 400, code: "invalid_request"},
		{name: "KeyNUL", method: "POST", path: submit, body: `{"payload": 1, "idempotency_key": "a\u0000b"}`, status: 400, code: "invalid_request"},
		{name: "KeyControl", method: "POST", path: submit, body: `{"payload": 1, "idempotency_key": "a\nb"}`, status: 400, code: "invalid_request"},
		{name: "KeyNotUTF8", method: "POST", path: submit, body: "{\"payload\": 1, \"idempotency_key\": \"a\xffb\"}", status: 400, code: "invalid_json"},
		{name: "KeyLoneSurrogate", method: "POST", path: submit, body: `{"payload": 1, "idempotency_key": "a\ud800b"}`, status: 400, code: "invalid_json"},
		{name: "KeyTooLong", method: "POST", path: submit, body: `{"payload": 1, "idempotency_key": "` + strings.Repeat("k", 257) + `"}`, status: 400, code: "invalid_request"},
		{name: "KeyWrongType", method: "POST", path: submit, body: `{"payload": 1, "idempotency_key": 7}`, status: 400, code: "invalid_request"},
		{name: "PayloadNotUTF8", method: "POST", path: submit, body: "{\"payload\": \"\xc0\xaf\"}", status: 400, code: "invalid_json"},
		{name: "RunAtFarPast", method: "POST", path: submit, body: `{"payload": 1, "run_at": "1970-01-01T00:00:00Z"}`, status: 400, code: "invalid_request"},
		{name: "RunAtFarFuture", method: "POST", path: submit, body: `{"payload": 1, "run_at": "2999-01-01T00:00:00Z"}`, status: 400, code: "invalid_request"},
		{name: "RunAtNotRFC3339", method: "POST", path: submit, body: `{"payload": 1, "run_at": "tomorrow"}`, status: 400, code: "invalid_request"},
		{name: "DelayOverflow", method: "POST", path: submit, body: `{"payload": 1, "delay": "9999999999999999h"}`, status: 400, code: "invalid_request"},
		{name: "TimeoutAbsurd", method: "POST", path: submit, body: `{"payload": 1, "timeout": "100000h"}`, status: 400, code: "invalid_request"},
		{name: "PriorityHuge", method: "POST", path: submit, body: `{"payload": 1, "priority": 1e30}`, status: 400, code: "invalid_request"},
		{name: "PriorityFraction", method: "POST", path: submit, body: `{"payload": 1, "priority": 1.5}`, status: 400, code: "invalid_request"},
		{name: "PriorityExponent", method: "POST", path: submit, body: `{"payload": 1, "priority": 1e3}`, status: 400, code: "invalid_request"},
		{name: "MaxAttemptsExponent", method: "POST", path: submit, body: `{"payload": 1, "max_attempts": 2E3}`, status: 400, code: "invalid_request"},
		{name: "MaxAttemptsObject", method: "POST", path: submit, body: `{"payload": 1, "max_attempts": {}}`, status: 400, code: "invalid_request"},
		{name: "MaxAttemptsTooMany", method: "POST", path: submit, body: `{"payload": 1, "max_attempts": 1001}`, status: 400, code: "invalid_request"},
		// A field that is given is held to its rule: an explicit zero value
		// never silently means the queue's default.
		{name: "RunAtZeroTime", method: "POST", path: submit, body: `{"payload": 1, "run_at": "0001-01-01T00:00:00Z"}`, status: 400, code: "invalid_request"},
		{name: "MaxAttemptsZero", method: "POST", path: submit, body: `{"payload": 1, "max_attempts": 0}`, status: 400, code: "invalid_request"},
		{name: "TimeoutZero", method: "POST", path: submit, body: `{"payload": 1, "timeout": "0s"}`, status: 400, code: "invalid_request"},
		{name: "TimeoutOneNanosecond", method: "POST", path: submit, body: `{"payload": 1, "timeout": "1ns"}`, status: 400, code: "invalid_request"},
		{name: "TimeoutUnderASecond", method: "POST", path: submit, body: `{"payload": 1, "timeout": "999ms"}`, status: 400, code: "invalid_request"},
		{name: "KeyEmpty", method: "POST", path: submit, body: `{"payload": 1, "idempotency_key": ""}`, status: 400, code: "invalid_request"},
		{name: "BatchKeyEmpty", method: "POST", path: submit, body: `{"jobs": [{"payload": 1, "idempotency_key": "a"}, {"payload": 2, "idempotency_key": ""}]}`, status: 400, code: "invalid_request"},
		{name: "BatchMaxAttemptsZero", method: "POST", path: submit, body: `{"jobs": [{"payload": 1}, {"payload": 2, "max_attempts": 0}]}`, status: 400, code: "invalid_request"},
		{name: "BatchJobNotAnObject", method: "POST", path: submit, body: `{"jobs": [1]}`, status: 400, code: "invalid_request"},
		{name: "DelayNumber", method: "POST", path: submit, body: `{"payload": 1, "delay": 5}`, status: 400, code: "invalid_request"},
		{name: "BatchNotAnArray", method: "POST", path: submit, body: `{"jobs": {"payload": 1}}`, status: 400, code: "invalid_request"},
		{name: "BatchNullJob", method: "POST", path: submit, body: `{"jobs": [{"payload": 1}, null]}`, status: 400, code: "invalid_request"},
		// 400: one rule for every body (internal/strictjson): no key twice, at any
		// depth; request field names exactly as documented; no lone
		// surrogate, in any string.
		{name: "DuplicatePayload", method: "POST", path: submit, body: `{"payload": 1, "payload": 2}`, status: 400, code: "duplicate_key"},
		{name: "DuplicateKey", method: "POST", path: submit, body: `{"payload": 1, "idempotency_key": "a", "idempotency_key": "b"}`, status: 400, code: "duplicate_key"},
		{name: "DuplicateEscapedKey", method: "POST", path: submit, body: `{"payload": 1, "p\u0061yload": 2}`, status: 400, code: "duplicate_key"},
		{name: "DuplicateJobs", method: "POST", path: submit, body: `{"jobs": [{"payload": 1}], "jobs": [{"payload": 2}]}`, status: 400, code: "duplicate_key"},
		{name: "DuplicateInBatchJob", method: "POST", path: submit, body: `{"jobs": [{"payload": 1}, {"payload": 2, "priority": 1, "priority": 2}]}`, status: 400, code: "duplicate_key"},
		{name: "DuplicateInPayload", method: "POST", path: submit, body: `{"payload": {"a": 1, "a": 2}}`, status: 400, code: "duplicate_key"},
		{name: "DuplicateDeepInBatchPayload", method: "POST", path: submit, body: `{"jobs": [{"payload": [{"x": {"b": 1, "c": 2, "b": 3}}]}]}`, status: 400, code: "duplicate_key"},
		{name: "FieldNameCase", method: "POST", path: submit, body: `{"Payload": 1}`, status: 400, code: "unknown_field"},
		{name: "FieldNameCaseTwice", method: "POST", path: submit, body: `{"payload": 1, "PAYLOAD": 2}`, status: 400, code: "unknown_field"},
		{name: "FieldNameKelvinSign", method: "POST", path: submit, body: `{"payload": 1, "idempotency_\u212aey": "a"}`, status: 400, code: "unknown_field"},
		{name: "FieldNameCaseInBatch", method: "POST", path: submit, body: `{"jobs": [{"payload": 1, "Priority": 2}]}`, status: 400, code: "unknown_field"},
		{name: "PayloadLoneSurrogate", method: "POST", path: submit, body: `{"payload": "\ud800"}`, status: 400, code: "invalid_json"},
		{name: "PayloadLoneLowSurrogate", method: "POST", path: submit, body: `{"payload": "\udc00x"}`, status: 400, code: "invalid_json"},
		{name: "PayloadSurrogatesReversed", method: "POST", path: submit, body: `{"payload": "\udc00\ud800"}`, status: 400, code: "invalid_json"},
		{name: "PayloadHighThenEscape", method: "POST", path: submit, body: `{"payload": "\ud800\n"}`, status: 400, code: "invalid_json"},
		{name: "PayloadKeyLoneSurrogate", method: "POST", path: submit, body: `{"payload": {"\udbff": 1}}`, status: 400, code: "invalid_json"},
		{name: "BatchPayloadLoneSurrogate", method: "POST", path: submit, body: `{"jobs": [{"payload": 1}, {"payload": ["ok", "\ud834"]}]}`, status: 400, code: "invalid_json"},
		{name: "DuplicateOnPause", method: "POST", path: "/v1/queues/q/pause", body: `{"a": 1, "a": 1}`, status: 400, code: "duplicate_key"},
		{name: "UnknownQueryParameter", method: "POST", path: submit + "?wait=1s", body: `{"payload": 1}`, status: 400, code: "unknown_field"},
		{name: "BodyOnPause", method: "POST", path: "/v1/queues/q/pause", body: `{"paused": true}`, status: 400, code: "unknown_field"},
		// 400: the URL.
		{name: "TicketNotANumber", method: "GET", path: "/v1/jobs/abc", status: 400, code: "invalid_ticket"},
		{name: "TicketZero", method: "GET", path: "/v1/jobs/0", status: 400, code: "invalid_ticket"},
		{name: "TicketOverflow", method: "GET", path: "/v1/jobs/99999999999999999999", status: 400, code: "invalid_ticket"},
		{name: "TicketLeadingZero", method: "GET", path: "/v1/jobs/01", status: 400, code: "invalid_ticket"},
		{name: "CancelBadTicket", method: "DELETE", path: "/v1/jobs/abc", status: 400, code: "invalid_ticket"},
		{name: "RetryBadTicket", method: "POST", path: "/v1/jobs/0/retry", status: 400, code: "invalid_ticket"},
		{name: "BadWait", method: "GET", path: "/v1/jobs/" + queued + "?wait=forever", status: 400, code: "invalid_request"},
		{name: "NegativeWait", method: "GET", path: "/v1/jobs/" + queued + "?wait=-1s", status: 400, code: "invalid_request", message: "wait -1s is outside 0s..1m0s (this server's --max-wait)"},
		{name: "WaitOverMax", method: "GET", path: "/v1/jobs/" + queued + "?wait=61s", status: 400, code: "invalid_request"},
		{name: "ListBadState", method: "GET", path: submit + "?state=done", status: 400, code: "invalid_request"},
		{name: "ListLimitZero", method: "GET", path: submit + "?limit=0", status: 400, code: "invalid_request"},
		{name: "ListLimitTooBig", method: "GET", path: submit + "?limit=1001", status: 400, code: "invalid_request"},
		{name: "ListLimitNotANumber", method: "GET", path: submit + "?limit=ten", status: 400, code: "invalid_request"},
		{name: "ListBadAfter", method: "GET", path: submit + "?after=abc", status: 400, code: "invalid_ticket"},
		{name: "ListMisspeltFilter", method: "GET", path: submit + "?stat=queued", status: 400, code: "unknown_field"},
		{name: "ListRepeatedLimit", method: "GET", path: submit + "?limit=1&limit=2", status: 400, code: "invalid_request"},
		{name: "StatsBadQueueName", method: "GET", path: "/v1/queues/bad!name", status: 400, code: "invalid_request"},
		// 404.
		{name: "UnknownTicket", method: "GET", path: "/v1/jobs/999999", status: 404, code: "not_found"},
		{name: "CancelUnknownTicket", method: "DELETE", path: "/v1/jobs/999999", status: 404, code: "not_found"},
		{name: "RetryUnknownTicket", method: "POST", path: "/v1/jobs/999999/retry", status: 404, code: "not_found"},
		{name: "UnknownQueueStats", method: "GET", path: "/v1/queues/nope", status: 404, code: "not_found"},
		{name: "UnknownQueueList", method: "GET", path: "/v1/queues/nope/jobs", status: 404, code: "not_found"},
		{name: "ResumeUnknownQueue", method: "POST", path: "/v1/queues/nope/resume", status: 404, code: "not_found"},
		{name: "UnknownRoute", method: "GET", path: "/v1/nope", status: 404, code: "not_found"},
		{name: "UnknownRootRoute", method: "GET", path: "/nope", status: 404, code: "not_found"},
		{name: "UncleanPath", method: "POST", path: "/v1/queues/q/../q/jobs", body: `{"payload": 1}`, status: 404, code: "not_found"},
		// 405.
		{name: "DeleteJobs", method: "DELETE", path: submit, status: 405, code: "method_not_allowed", allow: "GET, HEAD, POST"},
		{name: "PutJob", method: "PUT", path: "/v1/jobs/" + queued, body: `{"payload": 1}`, status: 405, code: "method_not_allowed", allow: "DELETE, GET, HEAD"},
		{name: "GetRetry", method: "GET", path: "/v1/jobs/" + canceled + "/retry", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "GetPause", method: "GET", path: "/v1/queues/q/pause", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "PostHealthz", method: "POST", path: "/healthz", status: 405, code: "method_not_allowed", allow: "GET, HEAD"},
		// 409.
		{name: "CancelFinal", method: "DELETE", path: "/v1/jobs/" + canceled, status: 409, code: "already_final"},
		{name: "RetryQueued", method: "POST", path: "/v1/jobs/" + queued + "/retry", status: 409, code: "not_retryable"},
		{name: "RetrySucceeded", method: "POST", path: "/v1/jobs/" + succeeded + "/retry", status: 409, code: "not_retryable"},
		{name: "CancelSucceeded", method: "DELETE", path: "/v1/jobs/" + succeeded, status: 409, code: "already_final"},
		// 409: a key names one request; a retry repeats it exactly.
		{name: "KeyReusedPayload", method: "POST", path: submit, body: `{"payload": {"a":2}, "idempotency_key": "used", "priority": 3, "delay": "1h"}`, status: 409, code: "idempotency_key_reused"},
		{name: "KeyReusedPayloadSpacing", method: "POST", path: submit, body: `{"payload": {"a": 1}, "idempotency_key": "used", "priority": 3, "delay": "1h"}`, status: 409, code: "idempotency_key_reused"},
		{name: "KeyReusedPriority", method: "POST", path: submit, body: `{"payload": {"a":1}, "idempotency_key": "used", "priority": 4, "delay": "1h"}`, status: 409, code: "idempotency_key_reused"},
		{name: "KeyReusedDelay", method: "POST", path: submit, body: `{"payload": {"a":1}, "idempotency_key": "used", "priority": 3, "delay": "2h"}`, status: 409, code: "idempotency_key_reused"},
		{name: "KeyReusedRunAtForDelay", method: "POST", path: submit, body: `{"payload": {"a":1}, "idempotency_key": "used", "priority": 3, "run_at": "` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`, status: 409, code: "idempotency_key_reused"},
		{name: "KeyReusedOptionAdded", method: "POST", path: submit, body: `{"payload": {"a":1}, "idempotency_key": "used", "priority": 3, "delay": "1h", "max_attempts": 10}`, status: 409, code: "idempotency_key_reused"},
		{name: "KeyReusedTimeout", method: "POST", path: submit, body: `{"payload": {"a":1}, "idempotency_key": "used", "priority": 3, "delay": "1h", "timeout": "10m"}`, status: 409, code: "idempotency_key_reused"},
		{name: "BatchKeyReused", method: "POST", path: submit, body: `{"jobs": [{"payload": 7}, {"payload": 8, "idempotency_key": "used"}]}`, status: 409, code: "idempotency_key_reused"},
		{name: "BatchKeyTwiceDiffering", method: "POST", path: submit, body: `{"jobs": [{"payload": 1, "idempotency_key": "twin"}, {"payload": 2, "idempotency_key": "twin"}]}`, status: 409, code: "idempotency_key_reused"},
		// 413, 415, 429.
		{name: "BodyTooLarge", method: "POST", path: submit, body: big, status: 413, code: "body_too_large"},
		{name: "TextBody", method: "POST", path: submit, body: `{"payload": 1}`, header: text, status: 415, code: "unsupported_media_type"},
		{name: "NoContentType", method: "POST", path: submit, body: `{"payload": 1}`, header: none, status: 415, code: "unsupported_media_type"},
		{name: "NoContentTypeNoBody", method: "POST", path: submit, header: none, status: 415, code: "unsupported_media_type"},
		{name: "TextBodyOnPause", method: "POST", path: "/v1/queues/q/pause", body: `{}`, header: text, status: 415, code: "unsupported_media_type"},
		// Content-Encoding: gzip is read, with --max-body applied to the
		// decompressed bytes; no other coding is.
		{name: "GzipNotGzip", method: "POST", path: submit, body: `{"payload": 1}`, header: gzipped, status: 400, code: "invalid_encoding"},
		{name: "GzipCutShort", method: "POST", path: submit, body: gz(t, `{"payload": 1}`)[:12], header: gzipped, status: 400, code: "invalid_encoding"},
		{name: "GzipEmpty", method: "POST", path: submit, header: gzipped, status: 400, code: "invalid_encoding"},
		{name: "GzipTrailingGarbage", method: "POST", path: submit, body: gz(t, `{"payload": 1}`) + "junk", header: gzipped, status: 400, code: "invalid_encoding"},
		{name: "GzipBadJSON", method: "POST", path: submit, body: gz(t, `{"payload": nope}`), header: gzipped, status: 400, code: "invalid_json"},
		{name: "GzipDuplicateKey", method: "POST", path: submit, body: gz(t, `{"payload": 1, "payload": 2}`), header: gzipped, status: 400, code: "duplicate_key"},
		{name: "GzipBomb", method: "POST", path: submit, body: gz(t, `{"payload": "`+strings.Repeat("0", 2*httpapi.DefaultMaxBodyBytes)+`"}`), header: gzipped, status: 413, code: "body_too_large"},
		{name: "EncodingBrotli", method: "POST", path: submit, body: `{"payload": 1}`, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"}, status: 415, code: "unsupported_encoding"},
		{name: "EncodingTwice", method: "POST", path: submit, body: gz(t, gz(t, `{"payload": 1}`)), header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}, status: 415, code: "unsupported_encoding"},
		{name: "EncodingOnPause", method: "POST", path: "/v1/queues/q/pause", body: `{}`, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "deflate"}, status: 415, code: "unsupported_encoding"},
		{name: "QueueFull", method: "POST", path: "/v1/queues/small/jobs", body: `{"payload": 4}`, status: 429, code: "queue_full", retryAfter: "1"},
		{name: "QueueFullBatch", method: "POST", path: "/v1/queues/small/jobs", body: `{"jobs": [{"payload": 4}, {"payload": 5}]}`, status: 429, code: "queue_full", retryAfter: "1"},
	}
	for _, c := range cases {
		// Ensure that this request is refused and changes nothing.
		t.Run(c.name, func(t *testing.T) { tb.expectRefused(t, c) })
	}
}

// goType matches the Go type names that once leaked into messages.
var goType = regexp.MustCompile(`\b(u?int(8|16|32|64)?|float(32|64)|bool|httpapi\.\w+|jobFields|json\.\w+)\b`)

// gz compresses s with gzip.
func gz(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(s))
	must(t, err)
	must(t, w.Close())
	return b.String()
}

// expectRefused sends c and checks the answer and the unchanged state.
func (tb *testBundle) expectRefused(t *testing.T, c errorCase) {
	t.Helper()
	before := tb.snapshot(t)
	h := c.header
	if h == nil && c.body != "" {
		h = map[string]string{"Content-Type": "application/json"}
	}
	r := tb.request(t, context.Background(), c.method, c.path, c.body, h)
	msg := r.expectError(t, c.status, c.code)
	if got := r.header.Get("Allow"); got != c.allow {
		t.Errorf("Allow = %q, want %q", got, c.allow)
	}
	if got := r.header.Get("Retry-After"); got != c.retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, c.retryAfter)
	}
	if !strings.Contains(msg, c.message) {
		t.Errorf("message %q, want %q in it", msg, c.message)
	}
	if goType.MatchString(msg) {
		t.Errorf("message %q names a Go type; the API speaks JSON", msg)
	}
	if c.code == "unsupported_media_type" && !strings.Contains(msg, "Content-Type: application/json") {
		t.Errorf("415 message %q does not tell how to fix it", msg)
	}
	if c.code == "unsupported_encoding" && (!strings.Contains(msg, "Content-Encoding: gzip") || r.header.Get("Accept-Encoding") != "gzip") {
		t.Errorf("415 %q with Accept-Encoding %q does not tell how to fix it", msg, r.header.Get("Accept-Encoding"))
	}
	if after := tb.snapshot(t); after != before {
		t.Fatalf("the refused request changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

// Ensure that the failures a real store does not produce on demand map to
// their documented status and code. The fake has no state to change.
func TestServer_Errors_Store(t *testing.T) {
	cases := []struct {
		name    string
		err     error // nil: the queue panics
		method  string
		path    string
		status  int
		code    string
		message string // a part of the message
	}{
		{"StoreFailed", fmt.Errorf("%w: commit failed: input/output error", ticketq.ErrStoreFailed), "GET", "/v1/jobs/1", 503, "store_failed", "retry it once the server has restarted"},
		{"OutcomeUnknown", fmt.Errorf("%w: %w: fsync: input/output error", ticketq.ErrUnknownOutcome, ticketq.ErrStoreFailed), "POST", "/v1/queues/q/jobs", 503, "outcome_unknown", "same idempotency_key"},
		{"Closed", ticketq.ErrClosed, "DELETE", "/v1/jobs/1", 503, "shutting_down", "closed"},
		{"DiskFull", fmt.Errorf("%w: no space left for ticketq.db, nothing was written", ticketq.ErrDiskFull), "POST", "/v1/queues/q/jobs", 507, "disk_full", "nothing was written"},
		{"LeaseMismatch", ticketq.ErrLeaseMismatch, "POST", "/v1/jobs/1/retry", 409, "lease_mismatch", "no longer held"},
		{"Conflict", fmt.Errorf("%w: something else", ticketq.ErrConflict), "POST", "/v1/jobs/1/retry", 409, "conflict", "something else"},
		{"Internal", errors.New("disk on fire"), "GET", "/v1/queues", 500, "internal", "disk on fire"},
		{"Panic", nil, "GET", "/v1/queues/q", 500, "internal", "server log"},
	}
	for _, c := range cases {
		// Ensure that this failure is answered as documented.
		t.Run(c.name, func(t *testing.T) {
			logs := &syncBuffer{}
			srv := httptest.NewServer(httpapi.New(fakeQueue{err: c.err}, httpapi.Options{Logger: zerolog.New(logs)}))
			defer srv.Close()
			tb := &testBundle{srv: srv}
			body := ""
			if strings.HasSuffix(c.path, "/jobs") {
				body = `{"payload": 1}`
			}
			r := tb.do(t, c.method, c.path, body)
			if msg := r.expectError(t, c.status, c.code); !strings.Contains(msg, c.message) {
				t.Fatalf("message %q does not contain %q", msg, c.message)
			}
			if c.code == "shutting_down" && !r.close {
				t.Fatalf("shutting_down without Connection: close")
			}
			if c.status == 500 && !logged(t, logs, "error", r.header.Get("X-Request-Id")) {
				t.Fatalf("no error log line for the 500 with its request id:\n%v", logs.lines(t))
			}
		})
	}
}

// Ensure that a request that meets a failed store is told so in general
// terms, with Retry-After and Connection: close (the process is about to
// exit), and never sees the store's own account, which names server files
// and commands; the log keeps that account with the request's id.
func TestServer_Errors_StoreFailedIsGeneric(t *testing.T) {
	const account = "store failed: the data file is inconsistent: bbolt panicked in go.etcd.io/bbolt.x: page 7 already freed (file /var/lib/ticketq/ticketq.db); stopped: run `ticketq check --data /var/lib/ticketq`"
	for _, c := range []struct {
		name, method, path, code, message string
		err                               error
	}{
		{"StoreFailed", "GET", "/v1/jobs/1", "store_failed", "the request was not carried out", fmt.Errorf("%w: %s", ticketq.ErrStoreFailed, account)},
		{"OutcomeUnknown", "POST", "/v1/queues/q/jobs", "outcome_unknown", "retry it with the same idempotency_key", fmt.Errorf("%w: %w: %s", ticketq.ErrUnknownOutcome, ticketq.ErrStoreFailed, account)},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &syncBuffer{}
			srv := httptest.NewServer(httpapi.New(fakeQueue{err: c.err}, httpapi.Options{Logger: zerolog.New(logs)}))
			defer srv.Close()
			tb := &testBundle{srv: srv}
			body := ""
			if c.method == "POST" {
				body = `{"payload": 1}`
			}
			r := tb.do(t, c.method, c.path, body)
			msg := r.expectError(t, 503, c.code)
			if !strings.Contains(msg, c.message) || !strings.Contains(msg, "the server log has the details") {
				t.Fatalf("message %q, want one saying %q and pointing at the log", msg, c.message)
			}
			for _, secret := range []string{"/var/lib/ticketq", "ticketq check", "bbolt", "already freed"} {
				if strings.Contains(msg, secret) {
					t.Fatalf("message %q shows the client %q", msg, secret)
				}
			}
			if !r.close || r.header.Get("Retry-After") != "5" {
				t.Fatalf("Connection: close %v, Retry-After %q; want both", r.close, r.header.Get("Retry-After"))
			}
			kept := false
			for _, l := range logs.lines(t) {
				e, _ := l["error"].(string)
				kept = kept || (l["level"] == "warn" && l["request_id"] == r.header.Get("X-Request-Id") && strings.Contains(e, "/var/lib/ticketq/ticketq.db"))
			}
			if !kept {
				t.Fatalf("the log lacks the store's account with the request id:\n%v", logs.lines(t))
			}
		})
	}
}

// logged reports whether a line of the level carries the request id.
func logged(t *testing.T, logs *syncBuffer, level, requestID string) bool {
	t.Helper()
	for _, l := range logs.lines(t) {
		if l["level"] == level && l["request_id"] == requestID {
			return true
		}
	}
	return false
}
