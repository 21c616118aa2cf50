package mpesa

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// flexString decodes a JSON string or number as text: Daraja sends codes
// and IDs either way ("0" and 0, "3599" and 3599). A whole number written
// as 1.0 reads as "1".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("empty value")
	case string(b) == "null":
		*f = ""
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(strings.TrimSpace(s))
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*f = flexString(numberText(string(b)))
		return nil
	}
	return errors.New("want a string or a number")
}

func (f flexString) String() string { return string(f) }

// numberText renders a JSON number literal as integer text when it is a
// whole number ("1.0" → "1", "2.54708374149e11" → "254708374149"), else as
// given.
func numberText(lit string) string {
	if !strings.ContainsAny(lit, ".eE") {
		return lit
	}
	v, err := strconv.ParseFloat(lit, 64)
	if err != nil || v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return lit
	}
	return strconv.FormatInt(int64(v), 10)
}

// darajaError is Daraja's error body.
type darajaError struct {
	RequestID    flexString `json:"requestId"`
	ErrorCode    flexString `json:"errorCode"`
	ErrorMessage flexString `json:"errorMessage"`
}

// decodeDarajaError reads a Daraja error body; ok only when it is a JSON
// object with an errorCode.
func decodeDarajaError(body []byte) (darajaError, bool) {
	var e darajaError
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &e) != nil {
		return darajaError{}, false
	}
	return e, e.ErrorCode != ""
}
