package message

import (
	"errors"
	"fmt"
)

// ErrSyntax is wrapped by every error that reports a malformed message: a
// length that disagrees with the data, a truncated field, a bad substructure.
// The exchange layer maps it to INVALID_SYNTAX or to a silent drop
// (RFC 7296 2.21); the codec never chooses.
var ErrSyntax = errors.New("message: invalid syntax")

// UnsupportedCriticalError reports a payload whose type this codec does not
// understand and whose critical bit is set (RFC 7296 2.5, 3.2). The exchange
// layer answers UNSUPPORTED_CRITICAL_PAYLOAD with Type as notification data.
type UnsupportedCriticalError struct {
	Type PayloadType
}

func (e *UnsupportedCriticalError) Error() string {
	return fmt.Sprintf("message: unsupported critical payload %v", e.Type)
}

// VersionError reports an IKE header whose major version is not 2
// (RFC 7296 3.1). A major version above 2 is answered with
// INVALID_MAJOR_VERSION; anything else is dropped.
type VersionError struct {
	Major, Minor uint8
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("message: unsupported IKE version %d.%d", e.Major, e.Minor)
}

// syntaxError is a malformed-message error; it matches ErrSyntax.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string        { return "message: invalid syntax: " + e.msg }
func (e *syntaxError) Is(target error) bool { return target == ErrSyntax }

// syntaxf returns an error matching ErrSyntax with a formatted description.
func syntaxf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...)}
}
