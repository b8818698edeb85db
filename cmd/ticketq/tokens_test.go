package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/httpapi"
)

// Secrets of the cmd tests' tokens.
const (
	submitSecret = "submit-secret-0123456789"
	workSecret   = "work-secret-0123456789ab"
	adminSecret  = "admin-secret-0123456789a"
)

// tokensFile writes content to a file of the given mode and returns its path.
func tokensFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; Chmod is not.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// Ensure that tokens are read from TICKETQ_TOKENS and from a tokens file,
// and that both add up.
func TestParseServeConfig_Tokens(t *testing.T) {
	file := tokensFile(t, "# operators\nops  admin  "+adminSecret+"   # the on-call\n\n\trunner\twork\t"+workSecret+"\n", 0o600)
	env := map[string]string{"TICKETQ_TOKENS": " ci:submit:" + submitSecret + " , "}
	c, err := parseServeConfig([]string{"--tokens-file", file}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := []httpapi.Token{
		{Name: "ci", Role: httpapi.RoleSubmit, Secret: submitSecret},
		{Name: "ops", Role: httpapi.RoleAdmin, Secret: adminSecret},
		{Name: "runner", Role: httpapi.RoleWork, Secret: workSecret},
	}
	if len(c.Tokens) != len(want) {
		t.Fatalf("tokens = %+v", c.Tokens)
	}
	for i := range want {
		if c.Tokens[i] != want[i] {
			t.Fatalf("token %d = %+v, want %+v", i, c.Tokens[i], want[i])
		}
	}
	// The file alone, named by its variable; a group-readable file is fine.
	c, err = parseServeConfig(nil, map[string]string{"TICKETQ_TOKENS_FILE": tokensFile(t, "a submit "+submitSecret+"\n", 0o640)}, &bytes.Buffer{})
	if err != nil || len(c.Tokens) != 1 || c.Tokens[0].Name != "a" {
		t.Fatalf("TICKETQ_TOKENS_FILE: %+v, %v", c, err)
	}
	// No tokens: authentication is off.
	if c, err = parseServeConfig(nil, nil, &bytes.Buffer{}); err != nil || len(c.Tokens) != 0 {
		t.Fatalf("no tokens: %+v, %v", c.Tokens, err)
	}
}

// Ensure that every malformed token configuration is refused, naming the
// entry or the file's line, and that no message quotes a secret.
func TestParseServeConfig_TokenErrors(t *testing.T) {
	good := "ops admin " + adminSecret + "\n"
	cases := []struct {
		name string
		env  string // TICKETQ_TOKENS
		file string // content of --tokens-file, mode 0600
		mode os.FileMode
		want string
	}{
		{"EnvTwoFields", "ci:" + submitSecret, "", 0, "TICKETQ_TOKENS entry 1: want NAME:ROLE:SECRET"},
		{"EnvBareSecret", "ok:work:" + workSecret + "," + adminSecret, "", 0, "TICKETQ_TOKENS entry 2: want NAME:ROLE:SECRET"},
		{"EnvBadRole", "ci:root:" + submitSecret, "", 0, `entry 1: token "ci": role "root"`},
		{"EnvSwapped", "ci:" + submitSecret + ":submit", "", 0, "entry 1: token \"ci\": the role is not"},
		{"EnvShortSecret", "ci:submit:abc", "", 0, "at least 16"},
		{"EnvBadName", "c i:submit:" + submitSecret, "", 0, "token name"},
		{"FileFields", "", good + "# fine\nci submit\n", 0o600, ":3: want NAME ROLE SECRET, got 2 fields"},
		{"FileFourFields", "", "ci submit " + submitSecret + " extra\n", 0o600, ":1: want NAME ROLE SECRET, got 4 fields"},
		{"FileBadRole", "", "\n\nci boss " + submitSecret + "\n", 0o600, `:3: token "ci": role "boss"`},
		{"FileShortSecret", "", good + "ci submit short\n", 0o600, ":2: token \"ci\": the secret has 5 characters"},
		{"FileSecretChars", "", "ci submit " + submitSecret + ";x\n", 0o600, ":1: token \"ci\": the secret may hold only"},
		{"FileWorldReadable", "", good, 0o644, "has mode 0644"},
		{"FileGroupWritable", "", good, 0o660, "chmod 600"},
		{"FileEmpty", "", "# nothing yet\n", 0o600, "holds no tokens"},
		{"DuplicateName", "ops:submit:" + submitSecret, good, 0o600, `:1: token name "ops" is already used by TICKETQ_TOKENS entry 1`},
		{"DuplicateSecret", "ci:submit:" + adminSecret, good, 0o600, `:1: token "ops" has the same secret as TICKETQ_TOKENS entry 1`},
	}
	for _, tc := range cases {
		// Ensure that this configuration is refused with its location.
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.file != "" {
				args = []string{"--tokens-file", tokensFile(t, tc.file, tc.mode)}
			}
			_, err := parseServeConfig(args, map[string]string{"TICKETQ_TOKENS": tc.env}, &bytes.Buffer{})
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want a usage error containing %q", err, tc.want)
			}
			for _, s := range []string{submitSecret, workSecret, adminSecret} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error %q quotes a secret", err)
				}
			}
		})
	}
	_, err := parseServeConfig([]string{"--tokens-file", filepath.Join(t.TempDir(), "missing")}, nil, &bytes.Buffer{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// Ensure that only loopback addresses count as loopback.
func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.8.9.10:1": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST:1": true,
		"[::ffff:127.0.0.1]:1": true,
		"0.0.0.0:8080":         false, "[::]:8080": false, ":8080": false, "10.0.0.5:8080": false,
		"myhost:8080": false, "localhost.example.com:1": false, "127.0.0.1": true, "0.0.0.0": false, "[fe80::1%lo]:1": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// Ensure that serve refuses a non-loopback address without tokens, naming
// the address and the ways out, unless --insecure-no-auth is given or
// tokens are configured, and that the two together are refused.
func TestParseServeConfig_Exposure(t *testing.T) {
	tokens := map[string]string{"TICKETQ_TOKENS": "ops:admin:" + adminSecret}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // "" when accepted
	}{
		{"AllInterfaces", []string{"--addr", "0.0.0.0:8080"}, nil, "--addr 0.0.0.0:8080 is not a loopback address"},
		{"AllInterfacesV6", []string{"--addr", "[::]:8080"}, nil, "TICKETQ_TOKENS or --tokens-file"},
		{"NoHost", nil, map[string]string{"TICKETQ_ADDR": ":8080"}, "--insecure-no-auth"},
		{"PrivateIP", []string{"--addr", "10.1.2.3:80"}, nil, "not a loopback address"},
		{"Insecure", []string{"--addr", "0.0.0.0:8080", "--insecure-no-auth"}, nil, ""},
		{"InsecureEnv", []string{"--addr", "0.0.0.0:8080"}, map[string]string{"TICKETQ_INSECURE_NO_AUTH": "true"}, ""},
		{"Tokens", []string{"--addr", "0.0.0.0:8080"}, tokens, ""},
		{"Loopback", []string{"--addr", "127.0.0.1:9"}, nil, ""},
		{"LoopbackWithTokens", []string{"--addr", "localhost:9"}, tokens, ""},
		{"InsecureAndTokens", []string{"--addr", "0.0.0.0:8080", "--insecure-no-auth"}, tokens, "exclude each other"},
	}
	for _, tc := range cases {
		// Ensure that this address and these settings are accepted or refused.
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServeConfig(tc.args, tc.env, &bytes.Buffer{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Ensure that --help documents the access settings, and that a client
// command's --help never prints the token it would take from TICKETQ_TOKEN.
func TestHelp_Access(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseServeConfig([]string{"--help"}, nil, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error = %v", err)
	}
	for _, want := range []string{"TICKETQ_TOKENS=NAME:ROLE:SECRET", "--tokens-file", "--insecure-no-auth", "--tls-cert", "--tls-key", "TICKETQ_TLS_KEY"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	for _, cmd := range []string{"submit", "status", "work", "bench"} {
		var stdout, stderr bytes.Buffer
		env := map[string]string{"TICKETQ_TOKEN": adminSecret, "TICKETQ_CA": "/etc/ca.pem"}
		_ = run(t.Context(), []string{cmd, "--help"}, env, &stdout, &stderr)
		help := stdout.String() + stderr.String()
		if !strings.Contains(help, "-token") || !strings.Contains(help, "TICKETQ_TOKEN") || !strings.Contains(help, "-ca") {
			t.Errorf("%s --help lacks --token or --ca:\n%s", cmd, help)
		}
		if strings.Contains(help, adminSecret) {
			t.Errorf("%s --help prints the token from the environment", cmd)
		}
	}
}

// Ensure that a token given with its fields in the wrong order, a secret
// where the name goes, is refused without the secret in the message.
func TestTokens_ErrorsNeverQuoteASecret(t *testing.T) {
	hex := strings.Repeat("3f9c0e1a", 8)
	b64 := "q8Zr2kT1x+9yV3mN0pL5sH7aD4fG6jK8wE1rT2yU3i="
	for _, entry := range []string{hex + ":submit:ci", b64 + ":submit:ci", "ci:submit:" + hex + ",runner:" + hex + ":x"} {
		_, err := parseTokensEnv(entry)
		if err == nil {
			t.Fatalf("%q was accepted", entry)
		}
		if strings.Contains(err.Error(), hex) || strings.Contains(err.Error(), b64) {
			t.Errorf("the error quotes a secret: %v", err)
		}
	}
}
