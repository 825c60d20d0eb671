#!/bin/sh
# Print the first of the given interpreters (default: python3.13 python3.12
# python3.11) that exists on PATH *and runs* a Python >= 3.11: a version
# manager's shim can be on PATH and still fail ("pyenv: python3.12: command not
# found"). Prints nothing and exits 1 if none does. Used by the Makefile.
[ "$#" -gt 0 ] || set -- python3.13 python3.12 python3.11
for candidate in "$@"; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        >/dev/null 2>&1; then
        command -v "$candidate"
        exit 0
    fi
done
exit 1
