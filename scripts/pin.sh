#!/usr/bin/env bash
# Write constraints.txt from the .venv that `bash scripts/setup.sh --dev` made: every installed package
# pinned, so the next fresh setup installs exactly these (torch without its +cpu tag: a CUDA build of the
# same version satisfies the pin).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  sed -n '1,3p' constraints.txt
  .venv/bin/python -m pip freeze --exclude-editable | grep -iv '^pip==\|^setuptools==\|^wheel==' \
    | sed 's/^torch==\([0-9.]*\)+cpu$/torch==\1/'
} > constraints.txt.new
mv constraints.txt.new constraints.txt
