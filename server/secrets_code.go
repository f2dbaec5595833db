package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/engine/worker"
)

// checkSecretsInCode refuses a flow whose code (a cell's source, the
// manifest with its inputs and env values) holds the value of one of the
// workspace's secrets: a version is exported, diffed, shown in the API and
// pushed to git, where masking no longer reaches. Every path that stores a
// version or pushes one calls it. The error names the secret and the
// place, never the value.
func (s *Server) checkSecretsInCode(ctx context.Context, wsID string, f *engine.Flow, files []flow.File) error {
	all, err := s.openSecrets(ctx, wsID, nil)
	if errors.Is(err, errNoBox) {
		return nil // secrets are off: none can be told
	}
	if err != nil {
		return err
	}
	find := map[string]string{}
	for name, v := range all {
		// Settings kept with the secrets (GIT_USERNAME) are not secret, and
		// shorter values would match ordinary words.
		if worker.NotMasked(name) || len(v) < minSecretBytes {
			continue
		}
		find[name] = v
		if u, err := url.Parse(v); err == nil && strings.HasPrefix(name, connectionPrefix) && u.User != nil {
			if pw, ok := u.User.Password(); ok && len(pw) >= minSecretBytes {
				find[name+"'s password"] = pw
			}
		}
	}
	found := flow.FindSecrets(f, files, find)
	if len(found) == 0 {
		return nil
	}
	first := found[0]
	name := strings.TrimSuffix(first.Secret, "'s password")
	msg := first.String() + ": write {{ secrets." + name + " }} in its place (nothing was saved)"
	if strings.HasPrefix(name, connectionPrefix) {
		msg = first.String() + ": use the cell's connection option instead (nothing was saved)"
	}
	if n := len(found) - 1; n > 0 {
		msg += fmt.Sprintf("; %d more place%s hold%s a secret", n, map[bool]string{true: "", false: "s"}[n == 1], map[bool]string{true: "s", false: ""}[n == 1])
	}
	e := &apiError{Status: http.StatusUnprocessableEntity, Code: "secret_in_code", Message: msg, Field: "flow", Line: first.Line}
	if first.Cell != "" {
		e.Field, e.Cell = "cells."+first.Cell, first.Cell
	}
	return e
}

// checkVersionSecrets is checkSecretsInCode for a stored version's files.
func (s *Server) checkVersionSecrets(ctx context.Context, wsID string, files []store.File) error {
	f, err := flowFromFiles(files)
	if err != nil {
		f = nil // the places are then told by file, not by cell
	}
	return s.checkSecretsInCode(ctx, wsID, f, flowFiles(files))
}
