package wal

// PanicInQueue makes every operation that looks up queue panic with v, as
// a bug in its code would, until the returned function is called. For the
// tests of package wal_test, which see a Log through the layers above it.
func PanicInQueue(queue string, v any) (restore func()) {
	f := func(name string) {
		if name == queue {
			panic(v)
		}
	}
	testHookQueue.Store(&f)
	return func() { testHookQueue.Store(nil) }
}
