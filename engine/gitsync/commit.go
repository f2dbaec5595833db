package gitsync

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/logattr"
)

// maxPushAttempts bounds how often Commit rebuilds its commit on a remote
// head that moved while it pushed.
const maxPushAttempts = 5

// Commit makes git's folder for the flow hold exactly files (files no
// longer in the flow are removed), commits it on top of the remote head
// with author as author and committer, message followed by a
// "Co-authored-by: Name <email>" trailer per co-author, and pushes. It
// returns the commit's hash.
//
// The commit is built on the remote head, so changes to other paths are
// kept: when the remote moved since the last fetch (or while pushing),
// Commit fetches and builds the commit again on the new head. When the flow's folder
// changed in git since the flow was last synced (or the flow was never
// synced and git already holds a different folder for it), nothing is
// committed or pushed and the error is a *ConflictError holding both
// sides (errors.Is(err, ErrConflict)). When git already holds exactly
// files, nothing is committed and the hash returned is the newest commit
// that changed the folder. Changes compare content: a folder rewritten in
// git without a change in meaning (keys reordered in flow.yaml) is no
// change, and the commit goes on top of it.
func (s *Syncer) Commit(ctx context.Context, slug string, files []flow.File, author Signature, message string, coauthors []Signature) (commitHash string, err error) {
	if err := checkSlug(slug); err != nil {
		return "", fmt.Errorf("commit flow: %w", err)
	}
	if err := checkFiles(files); err != nil {
		return "", fmt.Errorf("commit flow %q: %w", slug, err)
	}
	if clean(author.Name) == "" {
		return "", fmt.Errorf("commit flow %q: the author has no name; pass the person saving the version", slug)
	}
	msg := commitMessage(message, slug, author, coauthors)
	parts := strings.Split(s.flowPath(slug), "/")

	s.mu.Lock()
	defer s.mu.Unlock()
	var lastHead plumbing.Hash
	var pushErr error
	for attempt := 1; attempt <= maxPushAttempts; attempt++ {
		// The first attempt builds on the remote head as last fetched: when
		// it moved since, the push is refused (it must still be where the
		// commit was built on) and the next attempt fetches. This saves a
		// round trip on every save.
		if attempt > 1 {
			if err := s.fetch(ctx); err != nil {
				return "", fmt.Errorf("commit flow %q: %w", slug, err)
			}
		}
		head, err := s.remoteHead()
		if err != nil {
			return "", fmt.Errorf("commit flow %q: %w", slug, err)
		}
		if pushErr != nil && head == lastHead {
			// The remote did not move: the push failed for another reason.
			return "", fmt.Errorf("commit flow %q: push to %s: %w; %s", slug, redact(s.cfg.Remote), pushErr, s.hint(pushErr))
		}
		lastHead = head
		hc, err := s.commitAt(head)
		if err != nil {
			return "", fmt.Errorf("commit flow %q: %w", slug, err)
		}
		cur, err := s.folderTree(hc, slug)
		if err != nil {
			return "", fmt.Errorf("commit flow %q: %w", slug, err)
		}
		tree, err := s.writeFolder(files, cur)
		if err != nil {
			return "", fmt.Errorf("commit flow %q: %w", slug, err)
		}
		if tree == cur {
			changed, err := s.lastChange(hc, slug, cur)
			if err != nil {
				return "", fmt.Errorf("commit flow %q: %w", slug, err)
			}
			s.state.Flows[slug] = base{Commit: changed.Hash.String(), Tree: cur.String()}
			s.log.Info("git sync: flow already in git as saved", logattr.Slug(slug), "commit", changed.Hash.String())
			return changed.Hash.String(), s.saveState()
		}
		b, known := s.state.Flows[slug]
		if !known && !cur.IsZero() {
			return "", s.conflict(hc, slug, cur, files)
		}
		if known {
			same, err := s.sameContent(b, cur)
			if err != nil {
				return "", fmt.Errorf("commit flow %q: %w", slug, err)
			}
			if !same {
				return "", s.conflict(hc, slug, cur, files)
			}
		}

		var root, parent plumbing.Hash
		var parents []plumbing.Hash
		if hc != nil {
			root, parent = hc.TreeHash, hc.Hash
			parents = []plumbing.Hash{parent}
		}
		newRoot, err := s.replaceAt(root, parts, tree)
		if err != nil {
			return "", fmt.Errorf("commit flow %q: %w", slug, err)
		}
		sig := object.Signature{Name: clean(author.Name), Email: email(author), When: s.now()}
		h, err := s.encode(&object.Commit{
			Author:       sig,
			Committer:    sig,
			Message:      msg,
			TreeHash:     newRoot,
			ParentHashes: parents,
		})
		if err != nil {
			return "", fmt.Errorf("commit flow %q: store the commit: %w", slug, err)
		}

		if s.beforePush != nil {
			s.beforePush(attempt)
		}
		pushErr = s.push(ctx, h, parent)
		if pushErr == nil {
			if err := s.repo.Storer.SetReference(plumbing.NewHashReference(s.track, h)); err != nil {
				return "", fmt.Errorf("commit flow %q: pushed %s, but recording the remote head failed: %w", slug, h, err)
			}
			s.state.Flows[slug] = base{Commit: h.String(), Tree: tree.String()}
			s.log.Info("git sync: pushed flow", logattr.Slug(slug), "commit", h.String(), "attempt", attempt)
			return h.String(), s.saveState()
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("commit flow %q: push: %w", slug, context.Cause(ctx))
		}
		s.log.Info("git sync: push refused, fetching and trying again", logattr.Slug(slug), "attempt", attempt, "err", pushErr)
	}
	return "", fmt.Errorf("commit flow %q: the remote kept moving during %d attempts (%v); try again", slug, maxPushAttempts, pushErr)
}

// conflict gathers git's side of a conflict.
func (s *Syncer) conflict(hc *object.Commit, slug string, cur plumbing.Hash, local []flow.File) error {
	ce := &ConflictError{Slug: slug, Local: local, Deleted: cur.IsZero()}
	changed, err := s.lastChange(hc, slug, cur)
	if err != nil {
		return fmt.Errorf("commit flow %q: %w", slug, err)
	}
	ce.Commit = changed.Hash.String()
	ce.Author = Signature{Name: changed.Author.Name, Email: changed.Author.Email}
	ce.Message = changed.Message
	if !cur.IsZero() {
		files, _, bad, err := s.folderFiles(cur)
		if err != nil {
			return fmt.Errorf("commit flow %q: read git's side of a conflict: %w", slug, err)
		}
		if bad != nil {
			s.log.Warn("git sync: git's side of a conflict is not a usable flow", logattr.Slug(slug), "err", bad)
		}
		ce.Remote = files
	}
	s.log.Info("git sync: conflict, nothing pushed", logattr.Slug(slug), "commit", ce.Commit)
	return ce
}

// lastChange is the newest commit, walking first parents from head, whose
// folder for slug is cur while its parent's is not: the commit that made
// git's side what it is. At the root of history it is the root commit.
func (s *Syncer) lastChange(head *object.Commit, slug string, cur plumbing.Hash) (*object.Commit, error) {
	c := head
	for i := 0; i < 100000 && c != nil && c.NumParents() > 0; i++ {
		p, err := c.Parent(0)
		if err != nil {
			return nil, fmt.Errorf("read the parent of %s: %w", c.Hash, err)
		}
		t, err := s.folderTree(p, slug)
		if err != nil {
			return nil, err
		}
		if t != cur {
			return c, nil
		}
		c = p
	}
	if c == nil {
		return &object.Commit{}, nil
	}
	return c, nil
}

// checkFiles accepts flat, unique, plain file names including flow.yaml.
func checkFiles(files []flow.File) error {
	seen := map[string]bool{}
	for _, f := range files {
		n := f.Name
		if n == "" || n == "." || n == ".." || n == ".git" || strings.ContainsAny(n, "/\\\x00") {
			return fmt.Errorf("file name %q is not a plain file name; a flow folder holds flat files", n)
		}
		if seen[n] {
			return fmt.Errorf("file %q is given twice", n)
		}
		seen[n] = true
	}
	if !seen[flow.ManifestFile] {
		return errors.New("no flow.yaml among the files; pass the files of flow.Files")
	}
	return nil
}

// commitMessage is the version's message (or a default) and a blank line
// followed by one Co-authored-by trailer per co-author, as GitHub and
// GitLab read them. The author and repeated people are left out. Trailers
// come only from the studio: the message's own trailer-shaped lines are
// dropped (see withoutTrailers); the version keeps its message as written.
func commitMessage(message, slug string, author Signature, coauthors []Signature) string {
	msg := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\x00", "").Replace(message)
	msg = withoutTrailers(msg)
	msg = strings.TrimRight(msg, " \t\n")
	if strings.TrimSpace(msg) == "" {
		msg = "Update " + slug
	}
	seen := map[string]bool{strings.ToLower(email(author)): true}
	var trailers []string
	for _, c := range coauthors {
		if clean(c.Name) == "" {
			continue
		}
		e := email(c)
		if seen[strings.ToLower(e)] {
			continue
		}
		seen[strings.ToLower(e)] = true
		trailers = append(trailers, "Co-authored-by: "+clean(c.Name)+" <"+e+">")
	}
	if len(trailers) == 0 {
		return msg + "\n"
	}
	return msg + "\n\n" + strings.Join(trailers, "\n") + "\n"
}

// trailerLine is a line git reads as a trailer ("Token: value", the token
// made of letters, digits and dashes, spaces allowed before the colon).
var trailerLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9-]+[ \t]*:`) })

// gitRecognized are the lines that let git take a paragraph as trailers
// even when most of its lines are not (its 25% rule), and the trailers
// that credit people: the message never carries them, wherever they are.
var gitRecognized = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)^[ \t]*(signed-off-by|co-authored-by)[ \t]*:|^\(cherry picked from commit `)
})

// withoutTrailers drops from a message every line git or a forge could
// take as a trailer the person typed: Signed-off-by, Co-authored-by and
// "(cherry picked from commit" lines anywhere, and every paragraph after
// the title made only of "Token: value" lines (with their indented
// continuation lines and "#" lines, which git skips). Paragraphs of mixed
// text stay: without a recognized line git never takes them as trailers.
// A "---" line gets one space before it: git interpret-trailers takes it
// as the start of a patch and would read the paragraph above it as the
// trailers instead of the studio's. Leading blank lines go too, since git
// looks for the title after them.
func withoutTrailers(msg string) string {
	lines := strings.Split(msg, "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	var out []string
	var para []string
	title := true
	flush := func() {
		if !title && allTrailers(para) {
			para = para[:0]
			return
		}
		for _, l := range para {
			if !gitRecognized().MatchString(l) {
				out = append(out, l)
			}
		}
		para = para[:0]
	}
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "---"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			l = " " + l
		}
		if strings.TrimSpace(l) == "" {
			flush()
			if len(out) > 0 {
				title = false
			}
			out = append(out, l)
			continue
		}
		para = append(para, l)
	}
	flush()
	// Dropped paragraphs leave their blank lines behind; keep one.
	var b strings.Builder
	blank := false
	for _, l := range out {
		if strings.TrimSpace(l) == "" {
			blank = true
			continue
		}
		if blank && b.Len() > 0 {
			b.WriteString("\n")
		}
		blank = false
		b.WriteString(l)
		b.WriteString("\n")
	}
	return b.String()
}

// allTrailers tells whether git would read a paragraph as trailers only.
func allTrailers(para []string) bool {
	trailers, inTrailer := 0, false
	for _, l := range para {
		switch {
		case strings.HasPrefix(l, "#"):
			continue
		case l[0] == ' ' || l[0] == '\t':
			if !inTrailer {
				return false
			}
		case trailerLine().MatchString(l) || strings.HasPrefix(l, "(cherry picked from commit "):
			trailers++
			inTrailer = true
		default:
			return false
		}
	}
	return trailers > 0
}

// clean makes a name safe inside a signature or trailer.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '<' || r == '>':
			return -1
		case r < 0x20 || r == 0x7f:
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// email is the person's email, or, for people without one, a stand-in
// under the reserved .invalid domain made from their name, so that git
// tools still tell people apart.
func email(p Signature) string {
	if e := clean(p.Email); e != "" {
		return strings.ReplaceAll(e, " ", "")
	}
	var b strings.Builder
	for _, r := range strings.ToLower(p.Name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('.')
		}
	}
	if b.Len() == 0 {
		b.WriteString("someone")
	}
	return b.String() + "@opsbook.invalid"
}
