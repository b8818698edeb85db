package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/httpapi"
)

// The formats of the server's tokens. Both name a token, give it one role
// (submit, work or admin) and its secret (see httpapi.Token for what a
// secret may hold):
//
//	TICKETQ_TOKENS="ci:submit:SECRET1,runner-1:work:SECRET2"
//
//	# a --tokens-file: one token per line; '#' starts a comment
//	ci        submit  SECRET1
//	runner-1  work    SECRET2
//
// There is deliberately no --tokens flag: a command line is visible to
// every user of the machine (ps, /proc/PID/cmdline).

// tokenSource remembers where a token was read, for messages about it.
type tokenSource struct {
	token httpapi.Token
	where string // "TICKETQ_TOKENS entry 2" or "FILE:7"
}

// parseTokensEnv reads TICKETQ_TOKENS: comma-separated NAME:ROLE:SECRET
// entries; spaces around an entry and empty entries are ignored.
func parseTokensEnv(v string) ([]tokenSource, error) {
	var out []tokenSource
	for i, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		where := fmt.Sprintf("TICKETQ_TOKENS entry %d", i+1)
		name, rest, ok1 := strings.Cut(entry, ":")
		role, secret, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			// The entry may be a bare secret: never quote it.
			return nil, fmt.Errorf("%s: want NAME:ROLE:SECRET", where)
		}
		t := httpapi.Token{Name: name, Role: httpapi.Role(role), Secret: secret}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, tokenSource{t, where})
	}
	return out, nil
}

// readTokensFile reads a tokens file: one "NAME ROLE SECRET" per line,
// separated by spaces or tabs, '#' to the end of a line is a comment.
// A file that other users may read, or that its group may write, is
// refused, as ssh refuses such a private key: its secrets would be open
// to them.
func readTokensFile(path string) ([]tokenSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o027 != 0 {
		return nil, fmt.Errorf("tokens file %s has mode %#o: other users could read its secrets or its group change them; run chmod 600 %s", path, perm, path)
	}
	var out []tokenSource
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		where := fmt.Sprintf("%s:%d", path, n)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s: want NAME ROLE SECRET, got %d fields", where, len(fields))
		}
		t := httpapi.Token{Name: fields[0], Role: httpapi.Role(fields[1]), Secret: fields[2]}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, tokenSource{t, where})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	if len(out) == 0 {
		// An empty file would silently turn authentication off.
		return nil, fmt.Errorf("tokens file %s holds no tokens", path)
	}
	return out, nil
}

// loadTokens reads the tokens of TICKETQ_TOKENS and of the tokens file
// (both may be given; their tokens add up) and checks that no name or
// secret is used twice.
func loadTokens(envValue, file string) ([]httpapi.Token, error) {
	all, err := parseTokensEnv(envValue)
	if err != nil {
		return nil, err
	}
	if file != "" {
		more, err := readTokensFile(file)
		if err != nil {
			return nil, err
		}
		all = append(all, more...)
	}
	names := map[string]string{}
	secrets := map[string]string{}
	tokens := make([]httpapi.Token, 0, len(all))
	for _, s := range all {
		if first, dup := names[s.token.Name]; dup {
			return nil, fmt.Errorf("%s: token name %s is already used by %s", s.where, httpapi.QuoteTokenName(s.token.Name), first)
		}
		if first, dup := secrets[s.token.Secret]; dup {
			return nil, fmt.Errorf("%s: token %s has the same secret as %s", s.where, httpapi.QuoteTokenName(s.token.Name), first)
		}
		names[s.token.Name], secrets[s.token.Secret] = s.where, s.where
		tokens = append(tokens, s.token)
	}
	return tokens, nil
}

// isLoopback reports whether a listen address reaches this machine only:
// 127.0.0.0/8, ::1 or localhost. An empty host (":8080"), 0.0.0.0, [::]
// and every other name count as reachable from the network; a name is not
// resolved, so one that happens to resolve to loopback still needs tokens
// or --insecure-no-auth. An IPv6 zone ("[fe80::1%eth0]") is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: listen will say so more clearly than this check.
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExposure refuses to serve a non-loopback address without tokens,
// unless --insecure-no-auth says that this is meant. The profiler has no
// authentication at all (tokens do not cover it), so it is refused off
// loopback unless --insecure-no-auth.
func (c *Config) checkExposure() error {
	switch {
	case c.Pprof != "" && !isLoopback(c.Pprof) && !c.InsecureNoAuth:
		return fmt.Errorf("--pprof %s is not a loopback address: the profiler has no authentication, and anyone who reaches it can read memory and burn CPU. "+
			"Listen on 127.0.0.1 (and tunnel to it), or pass --insecure-no-auth if another layer guards the port", c.Pprof)
	case c.InsecureNoAuth && len(c.Tokens) > 0:
		return errors.New("--insecure-no-auth and tokens (TICKETQ_TOKENS, --tokens-file) exclude each other; drop one")
	case len(c.Tokens) > 0 || c.InsecureNoAuth || isLoopback(c.Addr):
		return nil
	}
	return fmt.Errorf("--addr %s is not a loopback address and no tokens are configured: anyone who can reach it could submit, cancel and read jobs. "+
		"Give tokens in TICKETQ_TOKENS or --tokens-file (see README, Security), listen on 127.0.0.1, "+
		"or pass --insecure-no-auth if another layer guards the port", c.Addr)
}

// logExposure warns at start about the two ways a network-facing server
// can be weaker than it looks: no authentication at all
// (--insecure-no-auth), or secrets that travel in clear text (tokens
// without TLS, fine only behind a proxy that terminates TLS).
func logExposure(c *Config, log zerolog.Logger) {
	switch {
	case isLoopback(c.Addr):
	case len(c.Tokens) == 0:
		log.Warn().Str("addr", c.Addr).Msg("serving WITHOUT authentication on a non-loopback address (--insecure-no-auth): anyone who reaches it can submit, cancel and read jobs")
	case c.TLS == nil:
		log.Warn().Str("addr", c.Addr).Msg("tokens travel in clear text: serve HTTPS with --tls-cert and --tls-key unless a proxy in front terminates TLS")
	}
}

// scrubSecretEnv removes the secrets that ticketq reads from the
// environment of this process, so that the job commands it starts (the exec
// executor, `work --exec`) do not inherit them: a command that prints its
// environment into a job's result or error would otherwise hand every
// reader of that job the admin secret. It is a guard against accidents, not
// isolation: a command running as the same user can still read the tokens
// file and /proc/PPID/environ.
func scrubSecretEnv() {
	for _, k := range []string{"TICKETQ_TOKENS", "TICKETQ_TOKEN"} {
		_ = os.Unsetenv(k)
	}
}
