package main

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The binary links the fakes behind `mpesa-bot demo` and the Daraja
// simulator; they must take their test hooks through small interfaces, not
// by importing testing, or the release binary carries the test framework.
func TestReleaseBinaryDoesNotLinkTesting(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Dockerfile builds it
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	if slices.Contains(strings.Fields(string(out)), "testing") {
		t.Errorf("mpesa-bot links testing; find the importer with: go list -deps -f '{{.ImportPath}} {{.Imports}}' . | grep -w testing")
	}
}
