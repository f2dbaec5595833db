package expr

import (
	stdcontext "context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// hostileShell are places a value could become code in a bash script, each
// with P for the placeholder {{ inputs.v }}.
var hostileShell = []string{
	"show() { local -i count=P; echo $count; }; show",
	"typeset -i n=P; echo $n",
	"declare -ix n=P; echo $n",
	"declare -ai n=(P); echo $n",
	"declare -i x\nx=P\necho $x",
	"f() { x=P; }\ndeclare -i x\nf\necho $x",
	"f() { x+=P; }; g() { local -i x=0; f; echo $x; }; g",
	"builtin declare -i x; x=P",
	"[[ -v P ]] && echo set",
	"[[ -R P ]] && echo set",
	"[ -v P ] && echo set",
	"test -v P && echo set",
	"v=abcdef; echo ${v:0:P}",
	"v=abcdef; echo ${v:P}",
	"true; let n=P; echo $n",
	"true;let \"n = P\"",
	"echo $(( P + 1 ))",
	"echo $[ P + 1 ]",
	"echo \"$(( P + 1 ))\"",
	"(( P > 1 )) && echo big",
	"for ((i=0; i<P; i++)); do :; done",
	"a=(1 2 3); echo ${a[P]}",
	"a=(1 2 3); echo \"${a[P]}\"",
	"a=(); a[P]=1",
	"a=([P]=1)",
	"declare -A m; m[P]=1",
	"printf -v P %s x",
	"read P <<< x",
	"read -r -a P <<< x",
	"mapfile -t P < /dev/null",
	"unset P",
	"declare P=1",
	"export P",
	"local_() { local P; }; local_",
	"echo ${!P}",
	"echo ${#P}",
	"echo ${P}",
	"echo $P",
	"x=P; echo ${!x}",
	"declare -n r=P; echo $r",
	"n=P; declare -n r=n; echo $r",
	"eval P",
	"eval \"echo P\"",
	"command eval P",
	"trap P EXIT",
	"source P",
	". P",
	"alias a=P",
	"bash -c P",
	"bash -c \"echo P\"",
	"sh -ec P",
	"env bash -c P",
	"timeout 5 bash -c P",
	"python3 -c P",
	"awk \"BEGIN { print \\\"P\\\" }\"",
	"echo a | sed \"s/a/P/\"",
	"P",
	"P arg",
	"env P",
	"exec P",
	"x=1 P",
	"c=P; $c",
	"c=(P); \"${c[@]}\"",
	"c=eval; $c P",
	"PS4=P; set -x; :",
	"cat <<EOF\nP\nEOF",
	"cat <<-EOF\n\tP\n\tEOF",
	"cat <<'EOF'\nP\nEOF",
	"cat <<\"EOF\"\nP\nEOF",
	"cat <<P\nx\nP",
	"cat <<EOF\n$(( P ))\nEOF",
	"cat <<EOF\n${a[P]}\nEOF",
	"echo `P`",
	"echo \"`echo P`\"",
	"echo $'P'",
	"echo $\"P\"",
	"echo \"P\"",
	"echo 'P'",
	"echo \\P",
	"echo \"\\P\"",
	"echo $(echo P)",
	"echo \"$(echo \"P\")\"",
	"echo ${x:-P}",
	"echo \"${x:-P}\"",
	"x=abc; echo ${x/b/P}",
	"x=abc; echo ${x#P}",
	"case P in *) echo hi;; esac",
	"case x in P) echo hi;; esac",
	"[[ P == x ]]",
	"[[ x =~ P ]]",
	"[[ P -eq 1 ]]",
	"[[ 1 -lt P ]]",
	"[ P -eq 1 ]",
	"cat <<< P",
	"echo P > /dev/null",
	"echo x > P",
	": $(( $(echo P) ))",
	"n=P; echo $(( n + 1 ))",
	"n=P; (( n )); echo ok",
	"n=P; [[ $n -gt 3 ]]",
	"n=P; echo $(( $n ))",
	"n=P; m=$n; (( m ))",
	"n=P; m=\"x$n\"; echo ${a[$m]}",
	"n=P; declare -i m=$n",
	"n=P; echo ${v:$n}",
	"n=P; [[ -v $n ]]",
	"n=P; printf -v \"$n\" x",
	"n=P; eval \"$n\"",
	"n=P; trap \"$n\" EXIT",
	"n=P; PS4=\"$n\"; set -x; :",
	"x=(P); (( x[0] ))",
	"read -r line <<< P; (( line ))",
	"read -r line < <(echo P); (( line ))",
	"mapfile -t arr <<< P; echo $(( arr[0] ))",
	"printf -v y %s P; (( y ))",
	"for w in P; do (( w )); done",
	"set -- P; echo $(( $1 ))",
	"f() { local -i c=$1; echo $c; }; f P",
	"f() { echo $(( $2 )); }; f x P",
	"f() { (( $@ )); }; f P",
	"f() { shift; echo $(( $1 )); }; f x P",
	"set -e -- x P; echo $(( $2 ))",
	"f() { g \"$1\"; }; g() { (( $1 )); }; f P",
	"# P",
	"echo ok # P",
	"x=P y=2; echo $x",
	"FOO=P bash -c 'echo \"$FOO\"'",
	"for x in P; do echo \"$x\"; done",
	"echo @(P)",
	"f() { echo \"$1\"; }; f P",
	"x=P; echo \"$x\" | tr a b",
	"coproc P { :; }",
	"P() { :; }",
	"echo ${P[0]}",
	"echo {P,b}",
	"echo ~P",
	"echo P=1",
	"declare -i i; i=P; echo $i",
	"local_() { local -n ref=P; }; local_",
	"wait -p P",
	"getopts a P",
	"printf '%d\\n' P",
	"ssh P uptime",
	"ssh host P",
	"xargs P < /dev/null",
	"f() { declare -i \"$1\"; }; f n; n=P",
	"v=P; echo ${v@P}",
	"v=P; echo \"${v@Q}\"",
	"v=P; [[ $v ]]",
	"OPSBOOK_VALUE_1=x; echo P",
	"echo ${OPSBOOK_VALUE_1} P",
	"echo __opsbook_ph_0_ P",
	"v={{ inputs.v }}; echo ${v@P}",
	"echo ${{{ inputs.v }}@P}",
	"v={{ inputs.v }}; w=$v; echo \"${w@P}\"",
	"bash <<< P",
	"bash -s <<< P",
	"bash <<EOF\nP\nEOF",
	"python3 - <<EOF\nprint(P)\nEOF",
	"echo P | bash",
	"echo P | sh -s",
	"v=P; echo \"$v\" | bash",
	"echo P | xargs sh -c",
	"echo P | source /dev/stdin",
	"bash <(echo P)",
	"bash P",
	"bash -- P",
	"mapfile -C P -c 1 < /etc/hostname",
	"shopt -s expand_aliases; alias e=eval; e P",
	"run() { eval \"$@\"; }; run P",
	"run() { bash -c \"$1\"; }; run P",
	"BASH_ENV=P bash -c :",
	"export ENV=P; sh -i < /dev/null",
	"eval 'declare -i x'; x=P; echo $x",
	"echo 'declare -i x' > lib.sh; source ./lib.sh; x=P; echo $x",
	". /dev/null; read x <<< P",
}

// hostileValues try to break out of every encoding; each creates the file
// MARKER when it runs as code.
var hostileValues = []string{
	"a[$(touch MARKER)]",
	"x[$(touch MARKER)]+1",
	"1+a[$(touch MARKER)]",
	"$(touch MARKER)",
	"`touch MARKER`",
	"'; touch MARKER; '",
	"\"; touch MARKER #",
	"x\ntouch MARKER\n",
	"EOF\ntouch MARKER\nEOF",
	"P\ntouch MARKER\nP",
	"${PATH:0:$(touch MARKER)}",
	"$'\\x27'; touch MARKER",
	"touch MARKER",
	"touch${IFS}MARKER",
	"-c touch MARKER",
	"x=a[$(touch MARKER)]",
	"a[$(touch MARKER)]=1",
	"PATH",
	"*",
	"\x01\x7f\xfe\xff$(touch MARKER)\x1b[0m",
	"\\$(touch MARKER)",
	"${x@P}",
	"\\\\x[$(touch MARKER)]",
	"\\n$(touch MARKER)",
	"@Pa[$(touch MARKER)]",
	"}; touch MARKER; {",
	")); touch MARKER; ((",
	"]; touch MARKER; [",
	"3",
	"-1",
}

// TestShellHostileCorpus runs every hostile place with every hostile value
// in real bash: each is refused when the flow is checked, refused when the
// template renders, or runs without creating MARKER.
func TestShellHostileCorpus(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	var checked, rendered, ran int
	for _, place := range hostileShell {
		src := place
		if !strings.Contains(place, "{{") {
			src = strings.ReplaceAll(place, "P", "{{ inputs.v }}")
		}
		tm, err := ParseTemplate(src, "t.sh", LangShell)
		if err != nil {
			var es engine.Errors
			if !errors.As(err, &es) {
				t.Fatalf("%q: %T %v", src, err, err)
			}
			checked++
			continue
		}
		for _, v := range hostileValues {
			out, params, err := tm.Render(NewEnv(map[string]any{"v": v}, nil, nil, engine.RunInfo{}))
			if err != nil {
				rendered++
				continue
			}
			ran++
			dir := t.TempDir()
			ctx, cancel := stdcontext.WithTimeout(stdcontext.Background(), 5*time.Second)
			cmd := exec.CommandContext(ctx, "bash", "-c", out)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
			for _, p := range params {
				cmd.Env = append(cmd.Env, p.(string))
			}
			_ = cmd.Run() // many fail on purpose (bad names, bad numbers)
			cancel()
			if _, err := os.Stat(filepath.Join(dir, "MARKER")); err == nil {
				t.Errorf("%q with %q ran as code; rendered:\n%s", place, v, out)
			}
		}
	}
	t.Logf("%d places × %d values: %d places refused at check, %d renders refused, %d runs without a marker",
		len(hostileShell), len(hostileValues), checked, rendered, ran)
}

// TestShellAnalysis says how each place is decided: refused (with what the
// message says), a number, or text in the environment.
func TestShellAnalysis(t *testing.T) {
	t.Parallel()
	const (
		text   = "text"
		number = "number"
	)
	for _, tc := range []struct {
		src  string
		want string // text, number, or a part of the error
	}{
		{`echo "Hi {{ inputs.v }}"`, text},
		{"cat <<EOF\nHi {{ inputs.v }}\nEOF", text},
		{"cat <<'EOF'\n{{ inputs.v }}\nEOF", "quoted"},
		{"echo '{{ inputs.v }}'", "inside '…'"},
		{"echo $'{{ inputs.v }}'", "$'…'"},
		{"echo `{{ inputs.v }}`", "use $(…)"},
		{"{{ inputs.v }} x", "command name"},
		{"sudo {{ inputs.v }}", "command name"},
		{"eval {{ inputs.v }}", "runs as code"},
		{"bash -c {{ inputs.v }}", "runs as code"},
		{"bash -c 'echo $1' _ {{ inputs.v }}", text},
		{"trap {{ inputs.v }} EXIT", "runs as code"},
		{"v={{ inputs.v }}; eval \"$v\"", "through $v"},
		{"if then", ""},
		{"echo {{ inputs.v }} ; if then", "does not parse"},
		{"show() { local -i count={{ inputs.v }}; echo $count; }; show", number},
		{"typeset -i n={{ inputs.v }}", number},
		{"declare -ix n={{ inputs.v }}", number},
		{"declare -i x\nx={{ inputs.v }}", number},
		{"f() { x={{ inputs.v }}; }; declare -i x", number},
		{"x={{ inputs.v }}", text},
		{"[[ -v {{ inputs.v }} ]]", number},
		{"v=abc; echo ${v:0:{{ inputs.v }}}", number},
		{"true; let n={{ inputs.v }}", number},
		{"echo $(( {{ inputs.v }} + 1 ))", number},
		{"(( {{ inputs.v }} ))", number},
		{"echo ${a[{{ inputs.v }}]}", number},
		{"printf -v {{ inputs.v }} x", number},
		{"read {{ inputs.v }}", number},
		{"n={{ inputs.v }}; (( n > 1 ))", number},
		{"f() { echo $(( $1 )); }; f {{ inputs.v }}", number},
		{"set -euo pipefail; f() { echo \"$1\" $(( $2 )); }; f {{ inputs.v }} 3", text},
		{"set -e -- {{ inputs.v }}; echo $(( $1 ))", number},
		{"x={{ inputs.v }}; echo ${!x}", number},
		{"declare -i \"$1\"; x={{ inputs.v }}", "computed at run time"},
		{"# {{ inputs.v }}", text},
		{"echo \\{{ inputs.v }}", "backslash"},
		{"echo ${{ inputs.v }}", "right after $"},
		{"echo $OPSBOOK_VALUE_1 {{ inputs.v }}", "OPSBOOK_VALUE_"},
		{"eval 'declare -i x'; x={{ inputs.v }}", number},
		{"f={{ inputs.v }}; (( $(stat -c %Y \"$f\") < 3 )); s=$(stat -c %s \"$f\"); echo $(( s + 1 ))", text},
		{"echo $(( $(echo {{ inputs.v }}) ))", number},
		{"source ./lib.sh; echo \"{{ inputs.v }}\"", text},
		{"echo {{ raw(inputs.v) }}", text},
	} {
		tm, err := ParseTemplate(tc.src, "t.sh", LangShell)
		switch {
		case tc.want == text || tc.want == number:
			if err != nil {
				t.Errorf("%q: %v", tc.src, err)
				continue
			}
			_, _, err := tm.Render(NewEnv(map[string]any{"v": "a b"}, nil, nil, engine.RunInfo{}))
			if got := map[bool]string{true: number, false: text}[err != nil]; got != tc.want {
				t.Errorf("%q is %s (%v), want %s", tc.src, got, err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "only a whole number") {
				t.Errorf("%q: %v", tc.src, err)
			}
		case tc.want == "":
			if err != nil {
				t.Errorf("%q (no placeholder) refused: %v", tc.src, err)
			}
		default:
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q: error %v, want one with %q", tc.src, err, tc.want)
			}
		}
	}
}

// TestShellValuesWork runs scripts that use values as text and as numbers
// in real bash.
func TestShellValuesWork(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	name := `it's "q" $(id) *`
	for _, tc := range []struct {
		src    string
		inputs map[string]any
		want   string
	}{
		{`echo "Hi {{ inputs.name }}"`, map[string]any{"name": name}, "Hi " + name + "\n"},
		{`echo Hi {{ inputs.name }}!`, map[string]any{"name": name}, "Hi " + name + "!\n"},
		{"cat <<EOF\nHi {{ inputs.name }}\n  $(echo {{ inputs.name }})\nEOF", map[string]any{"name": name}, "Hi " + name + "\n  " + name + "\n"},
		{"cat <<-EOF\n\tHi {{ inputs.name }}\n\tEOF", map[string]any{"name": "x\nEOF\ny"}, "Hi x\nEOF\ny\n"},
		{"echo $(( {{ inputs.n }} + 1 ))", map[string]any{"n": 3}, "4\n"},
		{"echo $(( 1 - {{ inputs.n }} ))", map[string]any{"n": -3}, "4\n"},
		{"echo $(( {{ inputs.n }} + 1 ))", map[string]any{"n": "3"}, "4\n"},
		{"a=(x y z); echo ${a[{{ inputs.n }}]} \"${a[{{ inputs.n }}]}\"", map[string]any{"n": 2}, "z z\n"},
		{"a=(); a[{{ inputs.n }}]=v; echo ${a[2]}", map[string]any{"n": 2}, "v\n"},
		{"show() { local -i count={{ inputs.n }}; echo $count; }; show", map[string]any{"n": 7}, "7\n"},
		{"n={{ inputs.n }}; (( n > 1 )) && echo big", map[string]any{"n": 7}, "big\n"},
		{"v=abcdef; echo ${v:1:{{ inputs.n }}}", map[string]any{"n": 2}, "bc\n"},
		{"v=abcdef; echo ${v:{{ inputs.n }}}", map[string]any{"n": -2}, "ef\n"},
		{"[[ {{ inputs.n }} -eq 7 ]] && echo seven", map[string]any{"n": 7}, "seven\n"},
		{"echo \"${x:-{{ inputs.name }}}\" ${x:-{{ inputs.name }}}", map[string]any{"name": "a  b"}, "a  b a  b\n"},
		{"x=abc; echo \"${x/b/{{ inputs.name }}}\"", map[string]any{"name": "*"}, "a*c\n"},
		{"case {{ inputs.name }} in '*') echo star;; *) echo other;; esac", map[string]any{"name": "*"}, "star\n"},
		{"f() { printf '%s|' \"$@\"; }; f {{ inputs.name }} {{ inputs.name }}", map[string]any{"name": "a b"}, "a b|a b|"},
		{"bash -c 'echo \"$1\"' _ {{ inputs.name }}", map[string]any{"name": name}, name + "\n"},
		{"x={{ inputs.name }}\necho \"$x\" # {{ inputs.name }}", map[string]any{"name": "a\nb"}, "a\nb\n"},
		{"echo \"$(echo \"{{ inputs.name }}\")\"", map[string]any{"name": name}, name + "\n"},
	} {
		out, params := renderShell(t, tc.src, tc.inputs)
		if got := runBash(t, out, params); got != tc.want {
			t.Errorf("%q printed %q, want %q (rendered %q)", tc.src, got, tc.want, out)
		}
	}
}

// TestShellEnvLimits: a value larger than one environment variable holds,
// or values adding up to more than a process may carry, are clear errors.
func TestShellEnvLimits(t *testing.T) {
	t.Parallel()
	tm, err := ParseTemplate("echo {{ inputs.a }} {{ inputs.b }}", "t.sh", LangShell)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", maxShellVar)
	_, _, err = tm.Render(NewEnv(map[string]any{"a": big, "b": ""}, nil, nil, engine.RunInfo{}))
	if err == nil || !strings.Contains(err.Error(), "write it to a file") {
		t.Errorf("a %d-byte value: %v", len(big), err)
	}
	ok := strings.Repeat("x", maxShellVar-len(ShellVar(0))-1)
	if _, _, err := tm.Render(NewEnv(map[string]any{"a": ok, "b": ""}, nil, nil, engine.RunInfo{})); err != nil {
		t.Errorf("a value of the largest size: %v", err)
	}
	many, err := ParseTemplate(strings.Repeat("echo {{ inputs.a }}\n", 10), "t.sh", LangShell)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = many.Render(NewEnv(map[string]any{"a": ok}, nil, nil, engine.RunInfo{}))
	if err == nil || !strings.Contains(err.Error(), "add up to") {
		t.Errorf("ten large values: %v", err)
	}
}
