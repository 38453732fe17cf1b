"""Reading and writing source files without losing anything: bad input becomes a clear error,
writes are atomic and keep the file's mode, encoding, BOM and line endings."""

from __future__ import annotations

import io
import os
import stat
import tempfile
import tokenize


class SourceError(Exception):
    """A file that cannot be analysed; the message says why."""


def read(path: str) -> bytes:
    """The file's bytes, checked to be decodable Python text (PEP 263 coding or UTF-8)."""
    if os.path.islink(path) and not os.path.exists(path):
        raise SourceError(f"broken symbolic link to {os.readlink(path)}")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SourceError("not a regular file")
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror or error}") from None
    if b"\0" in data:
        raise SourceError("binary file (contains NUL bytes)")
    decode(data)
    return data


def decode(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        if "unknown encoding" in str(error):
            raise SourceError(f"unknown encoding declared: {error}") from None
        raise SourceError("not valid utf-8 text, and no PEP 263 coding line says otherwise") from None
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise SourceError(f"not valid {encoding} text: {error}") from None


def encode(text: str) -> bytes:
    """The bytes of a file holding `text`: in the encoding its PEP 263 coding line names, UTF-8
    without one (a leading BOM character stays one BOM)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(text.encode("utf-8")).readline)
        return text.encode("utf-8" if encoding == "utf-8-sig" else encoding)
    except SyntaxError as error:  # an unknown coding name
        raise SourceError(str(error)) from None
    except UnicodeEncodeError as error:
        raise SourceError(f"not representable in its declared coding {error.encoding}: {error.reason}") from None


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data` through a temporary file in the same folder, keeping its mode;
    a symbolic link is followed so the link itself survives."""
    target = os.path.realpath(path)
    mode = stat.S_IMODE(os.stat(target).st_mode)
    folder = os.path.dirname(target) or "."
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".autofix-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
