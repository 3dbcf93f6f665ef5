package configs

import (
	"os"
	"testing"
)

// FuzzParse feeds arbitrary YAML to the config loader: it must never
// panic, and a rejected config must say where the problem is.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"demo.yaml", "example.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("sources:\n  - name: a\n    type: file\n    options: {paths: [x]}\n"))
	f.Add([]byte("data_dir: ${X:-y}\nlog: {level: debug}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data, "fuzz.yaml", func(string) (string, bool) { return "", false })
		if err == nil {
			return
		}
		if _, ok := err.(*Error); !ok {
			t.Fatalf("error of type %T, want *Error: %v", err, err)
		}
	})
}
