package runner

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketq/ticketq/job"
)

// recv waits for a value on c, failing the test after a long while.
func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		var zero T
		return zero
	}
}

// stopAsync runs g.Stop(s) and returns a channel closed when it returned.
func stopAsync(g *Group, s Stopping) <-chan struct{} {
	stopped := make(chan struct{})
	go func() { defer close(stopped); g.Stop(s) }()
	return stopped
}

type ctxKey struct{}

// Ensure that the root keeps the caller's values but not its end.
func TestGroup_Root(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	g := NewGroup(ctx)
	cancel()
	if g.Context().Err() != nil || g.Context().Value(ctxKey{}) != "v" {
		t.Fatalf("root: err %v, value %v", g.Context().Err(), g.Context().Value(ctxKey{}))
	}
	g.Stop(Stopping{})
	if cause := context.Cause(g.Context()); cause != job.ErrShutdown {
		t.Fatalf("after Stop the root's cause = %v", cause)
	}
}

// Ensure that a run finishing within the grace period is undisturbed, and
// Stop returns once it has returned, without calling the hooks.
func TestGroup_StopWithinGrace(t *testing.T) {
	g := NewGroup(context.Background())
	started, release, ctxErr := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	g.Go(func() {
		close(started)
		<-release
		ctxErr <- g.Context().Err()
	})
	<-started
	hook := func() { t.Error("a hook was called for a run that finished within the grace period") }
	stopped := stopAsync(g, Stopping{Grace: time.Hour, HardStop: time.Hour, GraceOver: hook, Abandon: hook})
	select {
	case <-stopped:
		t.Fatal("Stop returned while a run was going")
	default:
	}
	close(release)
	if err := recv(t, ctxErr, "end of the run"); err != nil {
		t.Fatalf("the run's context ended during the grace period: %v", err)
	}
	recv(t, stopped, "return of Stop")
}

// Ensure that at the end of the grace period GraceOver is called, then the
// runs are canceled with cause job.ErrShutdown, and Stop returns once they
// have returned.
func TestGroup_GraceOver(t *testing.T) {
	g := NewGroup(context.Background())
	r := Start(g.Context(), 0)
	started, causes := make(chan struct{}), make(chan error, 1)
	g.Go(func() {
		defer r.End()
		close(started)
		<-r.Context().Done()
		causes <- context.Cause(r.Context())
	})
	<-started
	graceOver := make(chan error, 1)
	stopped := stopAsync(g, Stopping{
		Grace: time.Millisecond, HardStop: time.Hour,
		GraceOver: func() { graceOver <- r.Context().Err() },
		Abandon:   func() { t.Error("a run that returned when canceled was abandoned") },
	})
	if err := recv(t, graceOver, "call of GraceOver"); err != nil {
		t.Fatalf("the run was canceled before GraceOver: %v", err)
	}
	if cause := recv(t, causes, "end of the run"); cause != job.ErrShutdown {
		t.Fatalf("cause = %v", cause)
	}
	recv(t, stopped, "return of Stop")
}

// Ensure that a run ignoring its cancel is abandoned after HardStop: Abandon
// is called and Stop returns while it still runs.
func TestGroup_Abandon(t *testing.T) {
	g := NewGroup(context.Background())
	started, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	g.Go(func() {
		defer close(finished)
		close(started)
		<-release // ignores its context
	})
	<-started
	abandoned := make(chan struct{})
	stopped := stopAsync(g, Stopping{Grace: time.Millisecond, HardStop: time.Millisecond, Abandon: func() { close(abandoned) }})
	recv(t, abandoned, "call of Abandon")
	recv(t, stopped, "return of Stop")
	select {
	case <-finished:
		t.Fatal("the run finished before it was released")
	default:
	}
	close(release)
	recv(t, finished, "end of the released run")
}

// Ensure that Cut ends the grace period without a cancel of its own: the
// caller's cause stays, GraceOver is not called, and Stop waits HardStop
// for the runs.
func TestGroup_Cut(t *testing.T) {
	g := NewGroup(context.Background())
	refused := errors.New("token refused")
	started, causes := make(chan struct{}), make(chan error, 2)
	g.Go(func() {
		close(started)
		<-g.Context().Done()
		causes <- context.Cause(g.Context())
	})
	<-started
	cut := make(chan struct{})
	stopped := stopAsync(g, Stopping{
		Grace: time.Hour, HardStop: time.Hour, Cut: cut,
		GraceOver: func() { t.Error("GraceOver called after a cut") },
	})
	g.CancelAll(refused)
	close(cut)
	if cause := recv(t, causes, "end of the run"); cause != refused {
		t.Fatalf("cause = %v", cause)
	}
	recv(t, stopped, "return of Stop")
}

// Ensure that CancelAll reaches the runs still to start too.
func TestGroup_CancelAllLater(t *testing.T) {
	g := NewGroup(context.Background())
	g.CancelAll(job.ErrShutdown)
	r := Start(g.Context(), 0)
	defer r.End()
	if cause := context.Cause(r.Context()); cause != job.ErrShutdown {
		t.Fatalf("a run started after CancelAll: cause %v", cause)
	}
}
