"""LTX Studio in the browser: python app.py [--host H] [--port P] [--model-set SET] [--outputs DIR]."""

from __future__ import annotations

import sys

from ltx_studio.app_main import main

if __name__ == "__main__":
    sys.exit(main())
