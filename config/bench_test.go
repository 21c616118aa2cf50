package config

import (
	"testing"
)

// BenchmarkLoad measures a full production Load from the environment, the
// cost paid once per process start.
func BenchmarkLoad(b *testing.B) {
	e := production().with("ADMIN_IDS", "1,2,3", "MERCHANT_IDS", "4,5", "HTTP_ADDR", ":8080")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(e.get, "", needAll); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadWithEnvFile adds reading and parsing a .env file.
func BenchmarkLoadWithEnvFile(b *testing.B) {
	content := ""
	for k, v := range production() {
		content += k + "=" + v + "\n"
	}
	path := b.TempDir() + "/.env"
	if err := writeBenchFile(path, content); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(env{}.get, path, needAll); err != nil {
			b.Fatal(err)
		}
	}
}
