package mpesa

import (
	"encoding/base64"
	"time"
)

// timestampLayout is Daraja's YYYYMMDDHHmmss.
const timestampLayout = "20060102150405"

// eat is Kenyan time: UTC+3 all year (no daylight saving), so a fixed zone
// needs no tzdata in the image.
var eat = time.FixedZone("EAT", 3*60*60)

// Timestamp renders t as Daraja's YYYYMMDDHHmmss in Kenyan time (function 2
// of the original module).
func Timestamp(t time.Time) string {
	return t.In(eat).Format(timestampLayout)
}

// ValidateTimestamp checks a timestamp given to Client.Password: 14 digits
// forming a real date and time.
func ValidateTimestamp(ts string) error {
	fail := &ValidationError{Field: "Timestamp", Value: echo(ts), Reason: "use 14 digits YYYYMMDDHHmmss in Kenyan time, like 20240607123045"}
	if len(ts) != len(timestampLayout) {
		return fail
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return fail
		}
	}
	if _, err := time.ParseInLocation(timestampLayout, ts, eat); err != nil {
		return fail
	}
	return nil
}

// Password is Daraja's request password: base64(shortCode + passkey +
// timestamp).
func Password(shortCode, passkey, timestamp string) string {
	b := make([]byte, 0, len(shortCode)+len(passkey)+len(timestamp))
	b = append(b, shortCode...)
	b = append(b, passkey...)
	b = append(b, timestamp...)
	return base64.StdEncoding.EncodeToString(b)
}

// Password returns the request password and its timestamp (function 3 of the
// original module). With timestamp "" both come from one read of the
// client's clock, so they always match. A custom timestamp must pass
// ValidateTimestamp; an invalid one gives two empty strings rather than a
// password Daraja would refuse.
func (c *Client) Password(timestamp string) (password, ts string) {
	if timestamp == "" {
		timestamp = Timestamp(c.cfg.Now())
	} else if ValidateTimestamp(timestamp) != nil {
		return "", ""
	}
	return Password(c.cfg.ShortCode, c.cfg.Passkey, timestamp), timestamp
}
