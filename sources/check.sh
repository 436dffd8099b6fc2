#!/usr/bin/env bash
# Verifies every program in this directory against the corpus rules.
# Build products go to a temporary directory; nothing is written here.
set -u
SRC="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d /tmp/asmgraph-sources-check.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
FLAGS="-std=gnu++17 -Wall -Wextra -Werror"
fail=0
n=0
declare -A count
bump() { count[$1]=$(( ${count[$1]:-0} + 1 )); }
bad() { echo "FAIL $1: $2"; fail=1; }
# A program's test cases: <name>.inputs/* or <name>.stdin.txt (then it may read stdin), else /dev/null.
cases_of() {
    if [ -d "$SRC/$1.inputs" ]; then ls -d "$SRC/$1.inputs"/*
    elif [ -f "$SRC/$1.stdin.txt" ]; then echo "$SRC/$1.stdin.txt"
    else echo /dev/null; fi
}
CASE=/dev/null
run() {
    local out="$1"; shift
    timeout 10 "$@" < "$CASE" > "$out" 2>/dev/null
    echo $? >> "$out.rc"
}
for cpp in "$SRC"/*.cpp; do
    name="$(basename "$cpp" .cpp)"
    d="$WORK/$name"; mkdir -p "$d"
    n=$((n + 1))
    lines=$(wc -l < "$cpp")
    if [ "$lines" -lt 10 ] || [ "$lines" -gt 70 ]; then bad "$name" "has $lines lines"; else bump lines; fi
    p="$SRC/$name.prompt.txt"
    if [ ! -f "$p" ]; then bad "$name" "missing prompt"
    elif [ "$(wc -l < "$p")" -ne 1 ] || [ -z "$(tr -d '[:space:]' < "$p")" ] || grep -qi '^how' "$p"; then bad "$name" "prompt is not one non-empty paragraph or starts with How"
    else bump prompt; fi
    # Programs with test cases may read stdin; timed_* programs print their running time on purpose
    # (they must validate as nondeterministic), so only their build is checked.
    banned='\b(rand|srand|time|clock|getenv|scanf|getline)\s*\(|std::cin|argv|unordered_|<ctime>|<chrono>|<random>|<thread>'
    [ "$(cases_of "$name")" != /dev/null ] && banned='\b(rand|srand|time|clock|getenv)\s*\(|argv|unordered_|<ctime>|<chrono>|<random>|<thread>'
    case "$name" in timed_*) banned='\b(rand|srand|getenv)\s*\(|argv|unordered_|<random>|<thread>' ;; esac
    if grep -Eq "$banned" "$cpp"; then bad "$name" "uses a forbidden facility"; else bump banned; fi
    ok=1
    for opt in O0 O2; do
        if ! g++ $FLAGS -$opt "$cpp" -o "$d/x86_$opt" 2> "$d/err_$opt"; then bad "$name" "g++ -$opt: $(head -3 "$d/err_$opt")"; ok=0; fi
    done
    [ $ok = 1 ] || continue
    bump gcc_build
    case "$name" in timed_*) echo "$name | $(head -1 "$cpp") | timed: build only"; continue ;; esac
    for CASE in $(cases_of "$name"); do
    rm -f "$d"/*.rc
    start=$(date +%s%N)
    run "$d/ref" "$d/x86_O0"
    elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
    [ "$elapsed" -lt 100 ] && bump fast || bad "$name" "took ${elapsed}ms"
    expect_rc=0; [ "$name" = exit_code_three ] && expect_rc=3
    case "$CASE" in */short.txt) expect_rc=1 ;; esac
    [ "$(cat "$d/ref.rc")" = "$expect_rc" ] && bump exit_code || bad "$name" "exit code $(cat "$d/ref.rc")"
    [ -s "$d/ref" ] || bad "$name" "no output"
    cmp_to_ref() {
        local tag="$1"
        if cmp -s "$d/ref" "$d/$tag" && cmp -s "$d/ref.rc" "$d/$tag.rc"; then bump "$tag"; else bad "$name" "$tag output/exit differs"; fi
    }
    run "$d/x86_O0_again" "$d/x86_O0"; cmp_to_ref x86_O0_again
    run "$d/x86_O2_a" "$d/x86_O2"; cmp_to_ref x86_O2_a
    run "$d/x86_O2_b" "$d/x86_O2"; cmp_to_ref x86_O2_b
    if g++ $FLAGS -O0 -ftrivial-auto-var-init=pattern "$cpp" -o "$d/pattern" 2>/dev/null; then
        run "$d/pattern_run" "$d/pattern"; cmp_to_ref pattern_run
    else bad "$name" "pattern build failed"; fi
    if g++ $FLAGS -O1 -fsanitize=address,undefined -fno-sanitize-recover=all "$cpp" -o "$d/san" 2>/dev/null; then
        run "$d/sanitized" "$d/san"; cmp_to_ref sanitized
    else bad "$name" "sanitizer build failed"; fi
    if aarch64-linux-gnu-g++ $FLAGS -O0 "$cpp" -o "$d/arm" 2>/dev/null; then
        run "$d/aarch64" qemu-aarch64 -L /usr/aarch64-linux-gnu "$d/arm"; cmp_to_ref aarch64
    else bad "$name" "aarch64 build failed"; fi
    if riscv64-linux-gnu-g++ $FLAGS -O0 "$cpp" -o "$d/rv" 2>/dev/null; then
        run "$d/riscv64" qemu-riscv64 -L /usr/riscv64-linux-gnu "$d/rv"; cmp_to_ref riscv64
    else bad "$name" "riscv64 build failed"; fi
    done
    uses_exc=no
    g++ $FLAGS -O0 -fno-exceptions -c "$cpp" -o "$d/noexc.o" 2>/dev/null || uses_exc=yes
    case "$name" in exception_*) want=yes ;; *) want=no ;; esac
    [ "$uses_exc" = "$want" ] && bump exceptions_as_named || bad "$name" "needs exceptions: $uses_exc (expected $want)"
    echo "$name | $(head -1 "$cpp") | exceptions: $uses_exc | exit: $(cat "$d/ref.rc")"
done
echo "---- $n programs"
for k in $(printf '%s\n' "${!count[@]}" | sort); do echo "$k: ${count[$k]}/$n"; done
[ $fail = 0 ] && echo "ALL CHECKS PASSED" || echo "SOME CHECKS FAILED"
exit $fail
