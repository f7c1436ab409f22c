# The CLI tests' checks, sourced by each tests/cli/test_*.sh (not a test itself: ctest
# runs the *.sh files): ok / bad count and print a result, check evaluates a condition
# string, finish prints the counts and exits with the result.
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1" >&2; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
finish() {
    echo "$pass passed, $fail failed"
    [ $fail -eq 0 ]
    exit $?
}
