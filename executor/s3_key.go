package executor

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ticketq/ticketq/job"
)

// S3Key expands an object key template for j. The placeholders are
//
//	{ticket}           the ticket, in decimal
//	{queue}            the queue name
//	{date}             the day the job was created, UTC, as 2006-01-02
//	{idempotency_key}  the job's idempotency key, or its ticket if it has none
//
// The template must hold {ticket} or {idempotency_key}, so that each job
// has its own key and a re-run overwrites its object; {date} is the
// creation day, not today, for the same reason. Without {queue}, jobs of
// two queues with the same idempotency key share an object; with
// {idempotency_key} alone, a key spelled like another job's ticket does.
//
// S3Key refuses (wrapping job.ErrInvalid) a template with an unknown or
// unclosed placeholder, a stray brace, a leading '/', or a control
// character, and a key over MaxS3KeyLen bytes or starting with '/'.
func S3Key(template string, j *job.Job) (string, error) {
	if err := parseKeyTemplate(template); err != nil {
		return "", err
	}
	idem := j.IdempotencyKey
	if idem == "" {
		idem = j.Ticket.String()
	}
	key := strings.NewReplacer(
		"{ticket}", j.Ticket.String(),
		"{queue}", j.Queue,
		"{date}", j.CreatedAt.UTC().Format("2006-01-02"),
		"{idempotency_key}", idem,
	).Replace(template)
	switch {
	case len(key) > MaxS3KeyLen:
		return "", fmt.Errorf("%w: object key is %d bytes long; the limit is %d", job.ErrInvalid, len(key), MaxS3KeyLen)
	case strings.HasPrefix(key, "/"):
		return "", fmt.Errorf("%w: object key %q starts with '/'", job.ErrInvalid, clipped(key))
	case !utf8.ValidString(key):
		return "", fmt.Errorf("%w: object key is not valid UTF-8", job.ErrInvalid)
	}
	return key, nil
}

// parseKeyTemplate checks that every brace opens or closes a known
// placeholder, so that expanding the template can be a plain replace.
func parseKeyTemplate(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("%w: key template is empty", job.ErrInvalid)
	case t[0] == '/':
		return fmt.Errorf("%w: key template %q starts with '/'", job.ErrInvalid, clipped(t))
	case !utf8.ValidString(t) || strings.ContainsFunc(t, unicode.IsControl):
		return fmt.Errorf("%w: key template %q has a control character or invalid UTF-8", job.ErrInvalid, clipped(t))
	}
	unique, literal := false, len(t)
	for rest := t; rest != ""; {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			break
		}
		end := strings.IndexAny(rest[i+1:], "{}")
		if rest[i] == '}' || end < 0 || rest[i+1+end] == '{' {
			return fmt.Errorf("%w: key template %q has an unbalanced brace", job.ErrInvalid, clipped(t))
		}
		switch name := rest[i+1 : i+1+end]; name {
		case "ticket", "idempotency_key":
			unique = true
		case "queue", "date":
		default:
			return fmt.Errorf("%w: key template %q has the unknown placeholder {%s}; known are {ticket}, {queue}, {date} and {idempotency_key}", job.ErrInvalid, clipped(t), clipped(name))
		}
		literal -= end + 2
		rest = rest[i+end+2:]
	}
	if !unique {
		return fmt.Errorf("%w: key template %q needs {ticket} or {idempotency_key}, so that a re-run overwrites the job's object instead of adding one", job.ErrInvalid, clipped(t))
	}
	if literal >= MaxS3KeyLen { // every placeholder adds a byte at least
		return fmt.Errorf("%w: key template has %d bytes besides its placeholders, too many for the key limit of %d", job.ErrInvalid, literal, MaxS3KeyLen)
	}
	return nil
}
