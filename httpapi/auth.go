package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/ticketq/ticketq/job"
)

// Role is what a token may do. Admin may do everything; the other roles
// are listed per route in the route table (routes.go).
type Role string

// The roles a Token can have.
const (
	// RoleSubmit may submit jobs, and read (GET /v1/jobs/{ticket}, with
	// ?wait=) and cancel (DELETE /v1/jobs/{ticket}) the jobs it submitted.
	// Each job records the name of the token that submitted it; another
	// token's job, or one submitted without a token, answers 404 not_found
	// exactly as an unknown ticket does and is left alone, so tickets,
	// which are sequential, reveal nothing. Idempotency keys are scoped to
	// the token's name as well.
	RoleSubmit Role = "submit"
	// RoleWork may lease jobs of pull queues and ack, nack, extend, release
	// and report the progress of its leases, and read any job's status.
	RoleWork Role = "work"
	// RoleAdmin may use every route: also cancel any job, retry, list,
	// queue stats, pause, resume and PATCH of limits.
	RoleAdmin Role = "admin"
)

// MinSecretLen is the shortest secret a Token may have: 16 characters of
// base64 or hex are 96 or 64 random bits, beyond online guessing.
const MinSecretLen = 16

// Token is one bearer token that the server accepts.
type Token struct {
	// Name identifies the holder in the access log and in 403 messages,
	// and is stored with each job the token submits (the job's
	// submitted_by), which is how a submit token is kept to its own jobs:
	// renaming a token cuts it off from the jobs it submitted before. It is
	// not secret: 1..64 (job.MaxSubmitterLen) characters of [A-Za-z0-9._-].
	Name string
	// Role is what the token may do.
	Role Role
	// Secret is what the client sends as "Authorization: Bearer SECRET":
	// at least MinSecretLen characters of the RFC 6750 token alphabet
	// ([A-Za-z0-9-._~+/], then optional '=' padding), so the output of
	// `openssl rand -base64 32` or `-hex 32` fits. Only its SHA-256 digest
	// is kept by the server.
	Secret string
}

// Validate reports what is wrong with t, without quoting its secret.
func (t Token) Validate() error {
	// The name is stored as each submitted job's Submitter, so it obeys
	// that field's limits.
	if t.Name == "" || len(t.Name) > job.MaxSubmitterLen || strings.Trim(t.Name, nameChars) != "" {
		return fmt.Errorf("token name %s: want 1..%d characters of [A-Za-z0-9._-]", QuoteTokenName(t.Name), job.MaxSubmitterLen)
	}
	switch t.Role {
	case RoleSubmit, RoleWork, RoleAdmin:
	default:
		if len(t.Role) >= MinSecretLen {
			// Likely a secret in the wrong place: not quoted.
			return fmt.Errorf("token %s: the role is not submit, work or admin", QuoteTokenName(t.Name))
		}
		return fmt.Errorf("token %s: role %q: want submit, work or admin", QuoteTokenName(t.Name), t.Role)
	}
	body := strings.TrimRight(t.Secret, "=")
	if body == "" || strings.Trim(body, secretChars) != "" {
		return fmt.Errorf("token %s: the secret may hold only [A-Za-z0-9-._~+/] and trailing '='", QuoteTokenName(t.Name))
	}
	if len(t.Secret) < MinSecretLen {
		return fmt.Errorf("token %s: the secret has %d characters, want at least %d (e.g. `openssl rand -hex 32`)", QuoteTokenName(t.Name), len(t.Secret), MinSecretLen)
	}
	return nil
}

// QuoteTokenName quotes a token's name for an error message, unless it is
// long enough to be a secret: fields given in the wrong order ("SECRET:
// submit:ci") would otherwise print the secret to a log. The message's
// position (entry or line) still tells the operator which token it is.
func QuoteTokenName(name string) string {
	if len(name) < MinSecretLen {
		return strconv.Quote(name)
	}
	return fmt.Sprintf("(a name of %d characters, not shown: it may be a secret in the wrong field)", len(name))
}

const (
	nameChars   = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
	secretChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/"
)

// ValidateTokens reports the first invalid token, or two tokens with the
// same name or the same secret (which would make a request's role depend
// on the order of the list).
func ValidateTokens(tokens []Token) error {
	names := map[string]bool{}
	secrets := map[[sha256.Size]byte]string{}
	for _, t := range tokens {
		if err := t.Validate(); err != nil {
			return err
		}
		if names[t.Name] {
			return fmt.Errorf("token name %s is used twice", QuoteTokenName(t.Name))
		}
		names[t.Name] = true
		d := sha256.Sum256([]byte(t.Secret))
		if other, dup := secrets[d]; dup {
			return fmt.Errorf("tokens %s and %s have the same secret", QuoteTokenName(other), QuoteTokenName(t.Name))
		}
		secrets[d] = t.Name
	}
	return nil
}

// DefaultOpenPaths are the paths served without a token when
// Options.OpenPaths is nil: the probes, which load balancers and
// supervisors call without credentials and which reveal nothing but
// whether the process is up and ready.
func DefaultOpenPaths() []string { return []string{"/healthz", "/readyz"} }

// Errors of authentication, answered 401 and 403 by classify.
var (
	errUnauthorized = errors.New("unauthorized")
	errForbidden    = errors.New("forbidden")
)

// roleSet is a set of roles as bits. Admin is in every route's set.
type roleSet uint8

const (
	submitter roleSet = 1 << iota
	worker
	administrator

	// adminOnly is the set of a route that only admin may use.
	adminOnly roleSet = 0
)

var roleBits = map[Role]roleSet{RoleSubmit: submitter, RoleWork: worker, RoleAdmin: administrator}

// authenticator holds the configured tokens as digests.
type authenticator struct {
	tokens []authToken
	open   map[string]bool
}

type authToken struct {
	digest [sha256.Size]byte
	name   string
	role   Role
	roles  roleSet
}

// newAuthenticator returns nil when no tokens are configured: every request
// is then served. It panics on an invalid token, as a programming error of
// the embedding program (the binary validates its configuration first).
func newAuthenticator(opts Options) *authenticator {
	if len(opts.Tokens) == 0 {
		return nil
	}
	if err := ValidateTokens(opts.Tokens); err != nil {
		panic("httpapi: Options.Tokens: " + err.Error())
	}
	a := &authenticator{open: map[string]bool{}}
	for _, t := range opts.Tokens {
		a.tokens = append(a.tokens, authToken{digest: sha256.Sum256([]byte(t.Secret)), name: t.Name, role: t.Role, roles: roleBits[t.Role]})
	}
	open := opts.OpenPaths
	if open == nil {
		open = DefaultOpenPaths()
	}
	for _, p := range open {
		a.open[p] = true
	}
	return a
}

// lookup finds the token whose secret is presented, comparing against every
// configured token whatever matches, so that the time taken does not tell
// which token (or whether a name) exists. The digests are compared, not the
// secrets: that makes the lengths equal, and a digest leaks nothing usable
// about its secret. compared counts the comparisons, for the tests.
func (a *authenticator) lookup(secret string) (t *authToken, compared int) {
	d := sha256.Sum256([]byte(secret))
	found := -1
	for i := range a.tokens {
		eq := subtle.ConstantTimeCompare(d[:], a.tokens[i].digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
		compared++
	}
	if found < 0 {
		return nil, compared
	}
	return &a.tokens[found], compared
}

// authenticate returns the token of the request's "Authorization: Bearer"
// header. The secret is never part of an error or a log line.
func (a *authenticator) authenticate(r *http.Request) (*authToken, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil, errorf(errUnauthorized, "this server needs a token: send the header \"Authorization: Bearer SECRET\"")
	}
	scheme, secret, _ := strings.Cut(values[0], " ")
	secret = strings.TrimSpace(secret)
	switch {
	case len(values) > 1:
		return nil, errorf(errUnauthorized, "send one Authorization header, not %d", len(values))
	case !strings.EqualFold(scheme, "Bearer") || secret == "":
		return nil, errorf(errUnauthorized, "the Authorization header must be \"Bearer SECRET\"")
	}
	t, _ := a.lookup(secret)
	if t == nil {
		return nil, errorf(errUnauthorized, "the bearer token is not valid")
	}
	return t, nil
}

// required returns the roles that may make request r. A request that no
// route takes (404, 405) may be made by any valid token, which then learns
// only that the route does not exist.
func required(router *mux.Router, r *http.Request) roleSet {
	var m mux.RouteMatch
	if !router.Match(r, &m) || m.MatchErr != nil || m.Route == nil {
		return submitter | worker | administrator
	}
	tmpl, err := m.Route.GetPathTemplate()
	if err != nil {
		return administrator
	}
	return rolesOf(r.Method, tmpl)
}

// rolesOf returns the roles that may use a route: those of its line in
// the route table, and admin. A route the table does not hold is admin
// only. HEAD has the roles of GET.
func rolesOf(method, template string) roleSet {
	if rt := lookupRoute(method, template); rt != nil {
		return rt.roles | administrator
	}
	return administrator
}

// authorize checks the request's token when tokens are configured and
// answers 401 or 403 itself. It returns the request's token (nil when
// tokens are off, the path is open or no valid token was sent) and whether
// the request may go on.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (t *authToken, ok bool) {
	a := s.auth
	if a == nil || a.open[r.URL.Path] {
		return nil, true
	}
	t, err := a.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	if need := required(s.router, r); t.roles&need == 0 {
		s.writeError(w, r, errorf(errForbidden, "token %q has the %s role; %s %s needs %s", t.name, t.role, r.Method, r.URL.Path, describe(need)))
		return t, false
	}
	return t, true
}

// tokenKey is the context key of the request's token.
type tokenKey struct{}

// withToken returns r carrying t, so that handlers know who calls: submit
// records the token's name with the job, getJob keeps a submit token to its
// own jobs. A nil t (tokens off, an open path) leaves r as it is.
func withToken(r *http.Request, t *authToken) *http.Request {
	if t == nil {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), tokenKey{}, t))
}

// tokenOf returns the token that made r, or nil when tokens are off or the
// path is open. The token holds no secret, only its digest.
func tokenOf(r *http.Request) *authToken {
	t, _ := r.Context().Value(tokenKey{}).(*authToken)
	return t
}

// ownJobsOnly reports whether the request's token may read only the jobs
// it submitted: a submit token. Work and admin tokens, and every request
// when tokens are off, read all jobs.
func ownJobsOnly(r *http.Request) bool {
	t := tokenOf(r)
	return t != nil && t.role == RoleSubmit
}

// mayRead reports whether the request's token may read j. Only the name is
// compared: it is unique among the configured tokens, and a job keeps it
// when the token's secret is rotated.
func mayRead(r *http.Request, j *job.Job) bool {
	return !ownJobsOnly(r) || j.Submitter == tokenOf(r).name
}

// describe names the roles of a set for a 403 message.
func describe(set roleSet) string {
	var names []string
	for _, r := range []Role{RoleSubmit, RoleWork, RoleAdmin} {
		if set&roleBits[r] != 0 {
			names = append(names, string(r))
		}
	}
	if len(names) == 1 {
		return "the " + names[0] + " role"
	}
	return "one of the roles " + strings.Join(names, ", ")
}
