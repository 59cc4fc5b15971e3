package engine

import (
	"errors"
	"fmt"
	"strings"
)

// ConfigError is a call or Pool that cannot run as given: the setting at
// fault and why. It wraps ErrConfig. A program that sets the settings
// from its own names (a CLI's flags) renders it with Explain, rather than
// rewriting Error's text.
type ConfigError struct {
	// Field is the setting at fault, named as its option is without
	// "With" ("Workers", "Grain"; "N" for the call's n) and as lab.Config
	// names it, or "" when the reason stands alone (a PISHM_KERNEL
	// setting, say).
	Field string
	// Reason is what follows the field's name: it starts with a space or
	// a colon, and names any other field as {Name}.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// configErr is a *ConfigError for field, its reason formatted as
// fmt.Sprintf does (with {Name} for other fields).
func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Error names the fields as they are: "engine: Workers must be in
// [1, 1024], got 0".
func (e *ConfigError) Error() string {
	return "engine: " + e.Explain(func(field string) string { return field })
}

// Explain is the error with every field it names (Field, and the {Name}s
// of Reason) written as name says, without the "engine: " prefix.
func (e *ConfigError) Explain(name func(field string) string) string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(name(e.Field))
	}
	r := e.Reason
	for {
		i := strings.IndexByte(r, '{')
		j := strings.IndexByte(r[i+1:], '}')
		if i < 0 || j < 0 {
			b.WriteString(r)
			return b.String()
		}
		b.WriteString(r[:i])
		b.WriteString(name(r[i+1 : i+1+j]))
		r = r[i+j+2:]
	}
}

// Unwrap is ErrConfig, and the underlying error if any.
func (e *ConfigError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrConfig}
	}
	return []error{ErrConfig, e.Err}
}

// ErrConfig is wrapped by every *ConfigError.
var ErrConfig = errors.New("engine: bad settings")
