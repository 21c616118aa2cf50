package config

import (
	"errors"
	"strings"
)

// FieldError is one configuration problem: the variable (or, for a broken
// .env file, the file's path) and what is wrong with it. Problem never holds
// a secret's value.
type FieldError struct {
	Var     string
	Problem string
}

// Error reads as a sentence about the variable: a Problem written as a
// predicate ("is required (ENVIRONMENT=sandbox)") follows the name after a
// space, anything else after a colon (`LOG_LEVEL: "verbose" is not one of …`).
func (e *FieldError) Error() string {
	if strings.HasPrefix(e.Problem, "is ") || strings.HasPrefix(e.Problem, "and ") {
		return e.Var + " " + e.Problem
	}
	return e.Var + ": " + e.Problem
}

// Problems returns every *FieldError in err, in the order Load found them.
// Load joins its problems with errors.Join, and errors.As would only find the
// first.
func Problems(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// errorsJoin keeps Load's return nil when nothing is wrong: errors.Join of
// an empty list is nil already, but a typed nil slice element would not be.
func errorsJoin(problems []*FieldError) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}
