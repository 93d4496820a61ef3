"""Python 3 C API for extension modules (bindings/python).

Debian 12's python3-dev installs Python.h in /usr/include/python3.11, which is
not on the compiler's default include path (`/usr/bin/python3-config
--includes`). Bazel 4 `includes` cannot name an absolute directory and `copts`
do not propagate through deps, so extension targets add PYTHON3_COPTS to their
own copts. pybind11 (python3-pybind11 / pybind11-dev) is in /usr/include and
needs nothing. Extensions do not link libpython: the interpreter provides it.

The version is Debian 12's python3 (3.11); the extension must be imported by
/usr/bin/python3, not another interpreter (e.g. a pyenv one) on the PATH.
"""

PYTHON3_INCLUDE_DIR = "/usr/include/python3.11"

PYTHON3_COPTS = [
    "-isystem",
    PYTHON3_INCLUDE_DIR,
    # pybind11's recommendation: only PyInit_<module> is exported.
    "-fvisibility=hidden",
]
