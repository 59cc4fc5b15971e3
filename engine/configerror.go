package engine

import (
	"errors"
	"fmt"

	"github.com/pishm/pishm/engine/internal/opt"
)

// ConfigError is a call or Pool that cannot run as given: the setting at
// fault and why. It wraps ErrConfig. A program that sets the settings
// from its own names (a CLI's flags) renders it with lab.Explain, rather
// than rewriting Error's text.
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
// [1, 1024], got 0". A program that names the settings its own way (a
// CLI's flags) renders the error with lab.Explain.
func (e *ConfigError) Error() string {
	return "engine: " + opt.Explain(e.Field, e.Reason, func(field string) string { return field })
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
