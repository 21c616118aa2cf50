package config

import (
	"fmt"
	"log/slog"
)

// Secret holds a credential. Every way Go has of printing, marshalling or
// logging a value shows "[redacted]" instead (or "[not set]" when empty), so a
// Config can be dumped, logged or wrapped into an error without leaking it.
// Reveal is the one way to the value: grep for it to audit every use.
type Secret string

const (
	redacted = "[redacted]"
	notSet   = "[not set]"
)

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) mask() string {
	if s == "" {
		return notSet
	}
	return redacted
}

// String returns "[redacted]", or "[not set]" when empty.
func (s Secret) String() string { return s.mask() }

// GoString returns the mask too, so %#v hides the value.
func (s Secret) GoString() string { return s.mask() }

// Format writes the mask for every verb: fmt never consults String for %x or
// %q on a string type, so only a Formatter covers them all.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.mask())) }

// MarshalJSON encodes the mask as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.mask() + `"`), nil }

// MarshalText returns the mask, for encoders that use encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// LogValue makes slog log the mask.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.mask()) }
