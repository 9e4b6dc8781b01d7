#!/usr/bin/env bash
# Set up LTX Studio on a fresh machine: a .venv with the pinned packages (constraints.txt pins every one).
#   bash scripts/setup.sh          what the studio needs
#   bash scripts/setup.sh --dev    plus the test tools, Lightricks' reference code (parity tests) and
#                                  Debian's Chromium for the browser test
# Under CI=true (.ci/run) a Chromium that cannot be installed stops the setup: CI runs the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
ci="${CI:-}"; case "${ci,,}" in "" | 0 | false | no) ci="" ;; *) ci=1 ;; esac
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install -q -r requirements-dev.txt -c constraints.txt
  # Lightricks' reference for tests/parity/, without dependency resolution (see requirements-parity.txt).
  .venv/bin/python -m pip install -q --no-deps -r requirements-parity.txt -c constraints.txt
  # torchaudio's wheel on PyPI carries compiled ops built against CUDA torch (libc10_cuda.so), which fail
  # to load with our CPU torch and so break `import torchaudio`. Without them torchaudio runs in its
  # extension-less mode (torchaudio/_extension/utils.py `_load_lib` finds no file: no C++ ops) and its
  # pure-torch transforms still work: MelSpectrogram is all ltx_core's AudioProcessor uses. Found with
  # find_spec, which locates the package without importing it; a second run finds nothing to remove.
  torchaudio_dir="$(.venv/bin/python -c 'import importlib.util as u; s = u.find_spec("torchaudio"); print(next(iter(s.submodule_search_locations)) if s else "")')"
  if [ -z "$torchaudio_dir" ]; then
    echo "setup: torchaudio is not installed (requirements-parity.txt)" >&2
    exit 1
  fi
  rm -f "$torchaudio_dir"/lib/*.so
  .venv/bin/python -c 'import torchaudio.transforms' || {
    echo "setup: torchaudio does not import without its compiled ops ($torchaudio_dir)" >&2
    exit 1
  }
  if [ ! -x /usr/bin/chromium ]; then
    # The browser test drives Debian's Chromium through Playwright (never `playwright install`).
    SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
    if command -v apt-get >/dev/null && $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; then
      :
    elif [ -n "$ci" ]; then
      echo "setup: could not install chromium (apt-get install chromium), which CI needs for the browser test" >&2
      exit 1
    else
      echo "setup: could not install chromium; the browser test will be skipped (under CI=true it fails)" >&2
    fi
  fi
else
  .venv/bin/python -m pip install -q -r requirements.txt -c constraints.txt
fi
