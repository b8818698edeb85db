package strictjson

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkReader measures the memory the reader takes for an object of
// 400,000 short keys (3.5 MB, below the HTTP API's default body limit),
// against an array of the same size, for a batch of 10,000 payloads of 20
// keys each, and its time over strings of many escapes and many strings
// (go test -bench Reader -benchmem).
func BenchmarkReader(b *testing.B) {
	var keys strings.Builder
	keys.WriteString(`{`)
	for i := range 400_000 {
		if i > 0 {
			keys.WriteByte(',')
		}
		keys.WriteString(`"` + strconv.FormatInt(int64(i), 36) + `":0`)
	}
	keys.WriteString(`}`)
	array := `[` + strings.TrimSuffix(strings.Repeat("0,", keys.Len()/2), ",") + `]`
	batch := `{"jobs":[` + strings.TrimSuffix(strings.Repeat(`{"payload":{`+manyKeys(20)+`}},`, 10_000), ",") + `]}`
	// Inputs that would make a search for the next quote or backslash go
	// over the rest of the body again and again, were it not remembered.
	escapes := `"` + strings.Repeat(`\n`, len(array)/2) + `"`
	strs := `[` + strings.TrimSuffix(strings.Repeat(`"a",`, len(array)/4), ",") + `,"\n"]`
	for _, c := range []struct{ name, body string }{
		{"Keys", keys.String()}, {"Array", array}, {"Batch", batch}, {"Escapes", escapes}, {"Strings", strs},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := []byte(c.body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := io.Copy(io.Discard, NewReader(bytes.NewReader(body), nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckRules measures the check the root package makes of every
// payload it is given (job.ValidatePayload), on a typical one.
func BenchmarkCheckRules(b *testing.B) {
	p := []byte(`{"user":"u1","email":"u1@example.com","text":"` + strings.Repeat("x", 330) + `"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if err := CheckRules(p); err != nil {
			b.Fatal(err)
		}
	}
}
