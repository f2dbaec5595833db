package run

import (
	"errors"

	"github.com/opsbook/opsbook/engine"
)

func asErrors(err error, out *engine.Errors) bool { return errors.As(err, out) }
func asError(err error, out **engine.Error) bool  { return errors.As(err, out) }
