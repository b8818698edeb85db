package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

const defaultServer = "http://127.0.0.1:8080"

// serverFlag registers --server with TICKETQ_SERVER as its default.
func serverFlag(fs *flag.FlagSet, env map[string]string) *string {
	def := defaultServer
	if v := env["TICKETQ_SERVER"]; v != "" {
		def = v
	}
	return fs.String("server", def, "server URL (env TICKETQ_SERVER)")
}

// apiError is an error answer of the server.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// call sends one request and returns the body of a 2xx answer.
func call(ctx context.Context, method, url string, body []byte, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(out, &e) == nil && e.Error.Code != "" {
			return nil, &apiError{resp.StatusCode, e.Error.Code, e.Error.Message}
		}
		return nil, &apiError{resp.StatusCode, "unexpected", strings.TrimSpace(string(out))}
	}
	return out, nil
}

// parseInterspersed lets flags follow positional arguments
// (`ticketq status 17 --wait 5s`), which package flag alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
