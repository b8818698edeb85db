package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// BackupReader is a backup being downloaded: the server's data file, a
// consistent copy taken when the request arrived. Read it to the end, then
// Close it; a transfer that ends before Size bytes is an error
// (io.ErrUnexpectedEOF), never a short file that looks whole.
type BackupReader struct {
	// Size is the length of the file, from the answer's Content-Length.
	Size int64

	body io.ReadCloser
	read int64
}

// Read reads the next bytes of the file.
func (r *BackupReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	r.read += int64(n)
	switch {
	case r.read > r.Size:
		return n, fmt.Errorf("backup: the server sent more than the %d bytes it announced", r.Size)
	case (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && r.read < r.Size:
		return n, fmt.Errorf("backup: the transfer ended after %d of %d bytes: %w", r.read, r.Size, io.ErrUnexpectedEOF)
	case err != nil && !errors.Is(err, io.EOF):
		return n, fmt.Errorf("backup: the transfer failed after %d of %d bytes: %w", r.read, r.Size, err)
	}
	return n, err
}

// Close ends the download; the server then releases its snapshot.
func (r *BackupReader) Close() error { return r.body.Close() }

// OpenBackup asks the server for a consistent copy of its data file (GET
// /v1/backup, which needs an admin token when the server has tokens) and
// returns it once the answer's headers have arrived. Until then it is
// retried on network errors, 429 and 503; the transfer itself is not,
// since its bytes may already be written somewhere.
func (c *Client) OpenBackup(ctx context.Context) (*BackupReader, error) {
	var res *http.Response
	_, err := c.retry(ctx, retrySafe, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/backup", nil)
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		req.Header.Set("Accept", "application/octet-stream")
		// Without this the Transport would ask for gzip and, if a proxy
		// obliged, drop the Content-Length that the check relies on.
		req.Header.Set("Accept-Encoding", "identity")
		req.Header.Set("User-Agent", c.opts.UserAgent)
		if c.authorization != "" {
			req.Header.Set("Authorization", c.authorization)
		}
		r, err := c.opts.HTTPClient.Do(req)
		if err != nil {
			return err
		}
		if r.StatusCode/100 != 2 {
			defer r.Body.Close()
			b, err := io.ReadAll(io.LimitReader(r.Body, maxAnswer))
			if err != nil {
				return fmt.Errorf("read answer: %w", err)
			}
			return newAPIError(r.StatusCode, r.Header, b)
		}
		res = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if res.ContentLength < 0 {
		// Not retried: the same path would answer the same way.
		_ = res.Body.Close()
		return nil, errors.New("backup: the answer has no Content-Length, so a cut-short transfer could not be told from a whole one (a proxy that compresses or re-chunks it?)")
	}
	return &BackupReader{Size: res.ContentLength, body: res.Body}, nil
}

// Backup downloads a consistent copy of the server's data file into w (see
// OpenBackup) and returns the bytes written; it fails unless exactly the
// announced size arrived. Sync and check the file before relying on it:
// `ticketq backup -o FILE` does both.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	r, err := c.OpenBackup(ctx)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(w, r)
}
