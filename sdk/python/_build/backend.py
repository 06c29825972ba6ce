"""PEP 517 build backend for the multimail SDK: setuptools, with an offline fallback.

Everything is delegated to ``setuptools.build_meta``. The one exception is building a wheel
where setuptools has no ``bdist_wheel`` command (setuptools older than 70.1 without the
``wheel`` package, which is what ``python3 -m venv`` gives on Python 3.9 to 3.11), or with no
setuptools at all (a Python 3.12+ venv): then this module writes the wheel itself. The package is pure Python with no dependencies, so the
wheel is a zip of ``src/multimail`` plus a ``.dist-info`` directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zipfile
from typing import Any, Dict, List, Optional

try:
    from setuptools import build_meta as _st
    from setuptools.build_meta import *  # noqa: F401,F403  (sdist, editable and the rest)
except ImportError:  # a venv without setuptools (Python 3.12+): wheels only, written here
    _st = None  # type: ignore[assignment]

    def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
        raise RuntimeError("building an sdist of multimail needs setuptools")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TAG = "py3-none-any"


def _setuptools_can_wheel() -> bool:
    if _st is None:
        return False
    try:
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1)

        return True
    except ImportError:
        pass
    try:
        import wheel.bdist_wheel  # noqa: F401

        return True
    except ImportError:
        return False


def _project() -> Dict[str, str]:
    """The few [project] fields the fallback needs, read from pyproject.toml."""
    text = open(os.path.join(_ROOT, "pyproject.toml"), encoding="utf-8").read()
    section = text.split("[project]", 1)[1].split("\n[", 1)[0]
    out = {}
    for key in ("name", "version", "description", "requires-python"):
        m = re.search(r'^%s\s*=\s*"([^"]*)"' % re.escape(key), section, re.M)
        if m:
            out[key] = m.group(1)
    return out


def _metadata() -> str:
    p = _project()
    lines = ["Metadata-Version: 2.1", "Name: " + p["name"], "Version: " + p["version"]]
    if "description" in p:
        lines.append("Summary: " + p["description"])
    if "requires-python" in p:
        lines.append("Requires-Python: " + p["requires-python"])
    readme = os.path.join(_ROOT, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        body = open(readme, encoding="utf-8").read()
    return "\n".join(lines) + "\n\n" + body


def _dist_info_name() -> str:
    p = _project()
    return "%s-%s.dist-info" % (p["name"].replace("-", "_"), p["version"])


def _wheel_file() -> str:
    return "Wheel-Version: 1.0\nGenerator: multimail-build-backend\nRoot-Is-Purelib: true\nTag: %s\n" % _TAG


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    if _setuptools_can_wheel():
        return _st.get_requires_for_build_wheel(config_settings)
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    if _setuptools_can_wheel():
        return _st.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
    name = _dist_info_name()
    d = os.path.join(metadata_directory, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    with open(os.path.join(d, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_file())
    return name


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None, metadata_directory: Optional[str] = None) -> str:
    if _setuptools_can_wheel():
        return _st.build_wheel(wheel_directory, config_settings, metadata_directory)
    p = _project()
    filename = "%s-%s-%s.whl" % (p["name"].replace("-", "_"), p["version"], _TAG)
    files = _package_files()
    dist = _dist_info_name()
    files.append((dist + "/METADATA", _metadata().encode("utf-8")))
    files.append((dist + "/WHEEL", _wheel_file().encode("utf-8")))
    record = [_record_line(arc, data) for arc, data in files] + [dist + "/RECORD,,"]
    files.append((dist + "/RECORD", ("\n".join(record) + "\n").encode("utf-8")))
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            z.writestr(arc, data)
    return filename


def _package_files() -> List[tuple]:
    src = os.path.join(_ROOT, "src")
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(src, "multimail")):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".py", ".typed")):
                path = os.path.join(dirpath, fn)
                arc = os.path.relpath(path, src).replace(os.sep, "/")
                with open(path, "rb") as f:
                    out.append((arc, f.read()))
    return out


def _record_line(arc: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return "%s,sha256=%s,%d" % (arc, digest, len(data))
