package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"regexp"
	"strings"
	"testing"
	"time"
)

// flagLine is how every --help names a flag: --name or -x, then the
// argument's name in capitals (HOST:PORT, NAME:SETTING=VALUE), if any.
var flagLine = regexp.MustCompile(`^  (-[a-z]|--[a-z][a-z0-9-]+)( [A-Z][A-Z_:=]*)?$`)

// subcommands returns the commands the top-level usage lists.
func subcommands(t *testing.T) []string {
	t.Helper()
	var cmds []string
	for _, m := range regexp.MustCompile(`(?m)^  ticketq ([a-z-]+)`).FindAllStringSubmatch(usage, -1) {
		cmds = append(cmds, m[1])
	}
	if len(cmds) < 12 {
		t.Fatalf("found only %v in the usage", cmds)
	}
	return cmds
}

// Ensure that every subcommand's --help lists its flags in one layout
// (--flag ARG, then an indented description), names every argument in
// capitals, and holds no backquote: package flag would have taken a
// backquoted word for the argument's name ("-data ticketq serve --data").
func TestHelp_OneLayout(t *testing.T) {
	for _, cmd := range subcommands(t) {
		t.Run(cmd, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{cmd, "--help"}, nil, &stdout, &stderr)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("error = %v, want flag.ErrHelp (exit 0)", err)
			}
			help := stderr.String()
			if strings.Contains(help, "`") {
				t.Errorf("the help holds a backquote:\n%s", help)
			}
			_, flags, ok := strings.Cut(help, "\nFlags:\n")
			if !ok {
				t.Fatalf("no Flags: section:\n%s", help)
			}
			lines := strings.Split(flags, "\n")
			n := 0
			for i, line := range lines {
				if !strings.HasPrefix(line, "  -") {
					continue
				}
				n++
				if !flagLine.MatchString(line) {
					t.Errorf("flag line %q is not --name ARG", line)
				}
				if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "      ") || strings.TrimSpace(lines[i+1]) == "" {
					t.Errorf("flag line %q has no description under it", line)
				}
			}
			if n == 0 {
				t.Errorf("no flags listed:\n%s", help)
			}
		})
	}
}

// newTestFlags is a command with a documented flag of each kind and one
// declared without doc.
func newTestFlags(out *bytes.Buffer) (*cmdFlags, *string, *time.Duration, *bool, *int) {
	f := newCmdFlags("ticketq test", "Usage: ticketq test\n", out)
	s := f.String("server", "http://127.0.0.1:8080", "where the `server` is")
	f.doc("server", "URL", "TICKETQ_SERVER", "OLD_SERVER")
	d := f.Duration("wait", 0, "how long")
	f.doc("wait", "DURATION", "TICKETQ_WAIT")
	b := f.Bool("json", false, "print JSON")
	f.doc("json", "", "TICKETQ_JSON")
	n := f.Int("count", 3, "how many")
	return f, s, d, b, n
}

// Ensure that the usage printer names arguments from doc, never from
// backquotes, derives them from the type for a flag without doc, and
// lists variables and defaults.
func TestCmdFlags_PrintUsage(t *testing.T) {
	var out bytes.Buffer
	f, _, _, _, _ := newTestFlags(&out)
	f.footer = "Footer.\n"
	f.printUsage(&out)
	want := `Usage: ticketq test

Flags:
  --server URL
      where the ` + "`server`" + ` is
      env TICKETQ_SERVER or OLD_SERVER; default http://127.0.0.1:8080
  --wait DURATION
      how long
      env TICKETQ_WAIT; default 0s
  --json
      print JSON
      env TICKETQ_JSON
  --count N
      how many
      default 3
Footer.
`
	if out.String() != want {
		t.Fatalf("usage:\n%s\nwant:\n%s", out.String(), want)
	}
}

// Ensure that a flag beats its variables, the first variable set beats
// the others and the default, an empty variable counts as unset, and a bad
// variable is a usage error that names it.
func TestCmdFlags_Parse(t *testing.T) {
	env := map[string]string{"TICKETQ_SERVER": "", "OLD_SERVER": "http://old:1", "TICKETQ_WAIT": "5s", "TICKETQ_JSON": "true"}
	f, s, d, b, n := newTestFlags(&bytes.Buffer{})
	pos, err := f.parse([]string{"a", "--wait", "2s", "b", "--count", "7"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if *s != "http://old:1" || *d != 2*time.Second || !*b || *n != 7 || strings.Join(pos, ",") != "a,b" {
		t.Fatalf("server %q wait %s json %v count %d pos %v", *s, *d, *b, *n, pos)
	}
	if f.onCommandLine("server") || !f.onCommandLine("wait") {
		t.Fatal("onCommandLine counts a variable, or misses a flag")
	}

	f, s, _, _, _ = newTestFlags(&bytes.Buffer{})
	if _, err := f.parse(nil, nil); err != nil || *s != "http://127.0.0.1:8080" {
		t.Fatalf("default: %q, %v", *s, err)
	}

	f, _, _, _, _ = newTestFlags(&bytes.Buffer{})
	_, err = f.parse(nil, map[string]string{"TICKETQ_WAIT": "soon"})
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `TICKETQ_WAIT="soon"`) {
		t.Fatalf("bad variable: %v", err)
	}
	f, _, _, _, _ = newTestFlags(&bytes.Buffer{})
	if _, err := f.parse([]string{"--nope"}, nil); !errors.As(err, &ue) {
		t.Fatalf("unknown flag: %v", err)
	}
	f, _, _, _, _ = newTestFlags(&bytes.Buffer{})
	if _, err := f.parse([]string{"--help"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
}
