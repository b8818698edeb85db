package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The deployment files of scripts/, which systemd and the operator read.
const (
	unitFile = "../../scripts/ticketq.service"
	envFile  = "../../scripts/ticketq.env"
)

// httpCloseBound is how long serve gives the HTTP server to close after
// the queue has drained (hs.Shutdown's timeout in serve.go).
const httpCloseBound = 5 * time.Second

// unit is a parsed unit file: the values of each key of each section, in
// order (a key such as Environment= may come more than once).
type unit map[string]map[string][]string

// parseUnit reads the key=value lines of a systemd unit file.
func parseUnit(r io.Reader) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			return nil, fmt.Errorf("line %d: %q is outside any section", n, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.HasSuffix(line, "\\") {
				return nil, fmt.Errorf("line %d: %q is not KEY=VALUE on one line", n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// last is the value in force of a key: systemd takes the last assignment.
func (u unit) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// timeSpan parses a systemd time span such as "45s", "1min 30s" or "90"
// (seconds), the forms a unit file uses for TimeoutStopSec=.
func timeSpan(s string) (time.Duration, error) {
	units := map[string]time.Duration{
		"": time.Second, "us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "sec": time.Second,
		"m": time.Minute, "min": time.Minute, "h": time.Hour, "hr": time.Hour,
	}
	re := regexp.MustCompile(`^([0-9]+)([a-z]*)$`)
	var total time.Duration
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return 0, fmt.Errorf("time span %q is empty", s)
	}
	for _, f := range fields {
		m := re.FindStringSubmatch(f)
		if m == nil {
			return 0, fmt.Errorf("time span %q: %q is not NUMBER[UNIT]", s, f)
		}
		unit, ok := units[m[2]]
		if !ok {
			return 0, fmt.Errorf("time span %q: unknown unit %q", s, m[2])
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return 0, err
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

func readUnit(t *testing.T) unit {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, err := parseUnit(f)
	if err != nil {
		t.Fatalf("%s: %v", unitFile, err)
	}
	return u
}

// Ensure that the systemd unit runs `ticketq serve` the way README's "Run
// on a VM" says: its own user, its state directory as the data directory,
// the environment file, restarts, a stop timeout longer than the default
// grace, KillMode=mixed, and the sandbox.
func TestDeploy_UnitFile(t *testing.T) {
	u := readUnit(t)
	want := map[string]string{
		"Type":                    "simple",
		"ExecStart":               "/usr/local/bin/ticketq serve",
		"User":                    "ticketq",
		"EnvironmentFile":         "-/etc/ticketq/ticketq.env",
		"StateDirectory":          "ticketq",
		"Restart":                 "always",
		"KillMode":                "mixed",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ReadWritePaths":          "/var/lib/ticketq",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
	}
	for k, v := range want {
		got, ok := u.last("Service", k)
		if !ok || got != v {
			t.Errorf("[Service] %s=%q (set: %v), want %q", k, got, ok, v)
		}
	}
	for _, k := range []string{"RestartSec", "LimitNOFILE"} {
		if _, ok := u.last("Service", k); !ok {
			t.Errorf("[Service] %s is not set", k)
		}
	}
	if _, ok := u.last("Service", "DynamicUser"); ok {
		t.Errorf("[Service] DynamicUser is set besides User=")
	}
	if got, _ := u.last("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q, want multi-user.target", got)
	}

	// The data directory is the state directory.
	dir, _ := u.last("Service", "StateDirectory")
	env := map[string]string{}
	for _, e := range u["Service"]["Environment"] {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			t.Errorf("Environment=%q is not VAR=value", e)
		}
		env[k] = v
	}
	if env["TICKETQ_DATA"] != "/var/lib/"+dir {
		t.Errorf("TICKETQ_DATA=%q, want the state directory /var/lib/%s", env["TICKETQ_DATA"], dir)
	}
	c, err := parseServeConfig(nil, env, io.Discard)
	if err != nil {
		t.Fatalf("the unit's Environment= does not parse: %v", err)
	}

	// systemd sends SIGKILL after TimeoutStopSec: the drain must fit.
	stop, ok := u.last("Service", "TimeoutStopSec")
	if !ok {
		t.Fatal("[Service] TimeoutStopSec is not set: systemd's default (90s) hides the intent")
	}
	d, err := timeSpan(stop)
	if err != nil {
		t.Fatal(err)
	}
	if need := c.Grace + httpCloseBound; d <= need {
		t.Errorf("TimeoutStopSec=%s: the default --grace %s and %s for HTTP to close need more than %s", stop, c.Grace, httpCloseBound, need)
	}
}

// envFileVars reads the variables of the example environment file, the
// commented-out ones included: every one is meant to be uncommented.
func envFileVars(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	assignment := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=(.*)$`)
	for _, line := range strings.Split(string(b), "\n") {
		if m := assignment.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			if _, dup := vars[m[1]]; dup {
				t.Errorf("%s: %s is set twice", envFile, m[1])
			}
			vars[m[1]] = m[2]
		}
	}
	if len(vars) == 0 {
		t.Fatalf("%s sets no variables", envFile)
	}
	return vars
}

// Ensure that every variable of the example environment file is one that
// `ticketq serve` reads, and that all of them together (with tokens, as a
// public address needs) make a configuration it takes.
func TestDeploy_EnvFile(t *testing.T) {
	vars := envFileVars(t)
	known := map[string]bool{}
	for _, s := range newConfig().settings() {
		for _, name := range s.env {
			known[name] = true
		}
	}
	env := map[string]string{"TICKETQ_TOKENS": "ops:admin:0123456789abcdef0123"}
	for name, value := range vars {
		queue := strings.HasPrefix(name, "TICKETQ_QUEUE_")
		if !known[name] && !queue {
			t.Errorf("%s: %s is not a variable of ticketq serve", envFile, name)
		}
		switch name {
		case "TICKETQ_TOKENS_FILE", "TICKETQ_TLS_CERT", "TICKETQ_TLS_KEY":
			// Files on the VM; their formats have their own tests.
			if !strings.HasPrefix(value, "/etc/ticketq/") {
				t.Errorf("%s=%s: keep it in /etc/ticketq, as README says", name, value)
			}
		case "TICKETQ_WEBHOOK":
			// One default executor at a time; TICKETQ_EXEC stands for both.
		default:
			env[name] = value
		}
	}
	c, err := parseServeConfig(nil, env, io.Discard)
	if err != nil {
		t.Fatalf("%s, every line uncommented: %v", envFile, err)
	}
	for name := range vars {
		if rest, ok := strings.CutPrefix(name, "TICKETQ_QUEUE_"); ok && len(c.QueueConfig) == 0 {
			t.Errorf("%s: %s configured no queue (%s)", envFile, name, rest)
		}
	}
	u := readUnit(t)
	dir, _ := u.last("Service", "StateDirectory")
	if got := vars["TICKETQ_DATA"]; got != "" && got != "/var/lib/"+dir {
		t.Errorf("%s: TICKETQ_DATA=%s, but the unit's state directory is /var/lib/%s", envFile, got, dir)
	}
}

// Ensure that systemd itself finds nothing wrong with the unit, where
// systemd-analyze is installed. The unit names /usr/local/bin/ticketq, which
// verify requires to exist; the copy it checks names the test's binary.
func TestDeploy_SystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; TestDeploy_UnitFile checks the directives")
	}
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	copied := bytes.ReplaceAll(b, []byte("ExecStart=/usr/local/bin/ticketq "), []byte("ExecStart="+benchBinary+" "))
	if bytes.Equal(copied, b) {
		t.Fatal("the unit's ExecStart is not /usr/local/bin/ticketq")
	}
	path := filepath.Join(t.TempDir(), "ticketq.service")
	if err := os.WriteFile(path, copied, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// Ensure that the release build is one static file: CGO_ENABLED=0, no
// dynamic loader and no shared libraries, so it runs on any Linux VM.
func TestDeploy_StaticBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ticketq")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", path, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v program header: it is dynamically linked", p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("static binary: %d bytes (%.1f MiB)", st.Size(), float64(st.Size())/(1<<20))
}

// Ensure that timeSpan reads whole-number time spans as systemd does, and
// refuses malformed ones (fractions and "infinity" it does not read, so that
// TestDeploy_UnitFile fails rather than misjudges them).
func TestDeploy_TimeSpan(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"45s": 45 * time.Second, "90": 90 * time.Second, "1min 30s": 90 * time.Second,
		"2min": 2 * time.Minute, "1h": time.Hour, "500ms": 500 * time.Millisecond,
	} {
		if got, err := timeSpan(s); err != nil || got != want {
			t.Errorf("timeSpan(%q) = %s, %v; want %s", s, got, err, want)
		}
	}
	for _, s := range []string{"", "s", "5x", "-5s", "5 s", "1.5s", "infinity"} {
		if got, err := timeSpan(s); err == nil {
			t.Errorf("timeSpan(%q) = %s, want an error", s, got)
		}
	}
}
