"""Puts ../src first on sys.path, so the tests run against this source tree with or without
PYTHONPATH (python3 -m unittest discover -s sdk/python/tests). Imported first by each test."""

import os
import sys

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src"))
if SRC not in sys.path:
    sys.path.insert(0, SRC)
