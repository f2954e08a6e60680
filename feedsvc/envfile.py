"""Env files in systemd's ``EnvironmentFile=`` format, so that the ``feedsvc`` command reads
``/etc/feedsvc/feedsvc.env`` exactly as the units do.

The rules (systemd.exec(5)): ``NAME=value`` a line; empty lines and lines starting with ``#`` or ``;``
are comments; whitespace around the name and the value is dropped; an unquoted value keeps inner
whitespace, a ``\\`` keeps the next character and a trailing ``\\`` continues the line; ``'…'`` is
verbatim; ``"…"`` knows the escapes ``\\" \\\\ \\` \\$`` (any other ``\\x`` stays as written); both
quotes may span lines. ``$`` is not expanded and ``#`` after a value is part of it, as in systemd.
Lines systemd would skip with a warning (no ``=``, a name that is not a name, ``export NAME=``) are
refused here, naming the line: a setting the service silently lacks is what this command exists to
avoid.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SPACE = " \t\r"


class EnvFileError(ValueError):
    pass


def parse(text: str, source: str = "env file") -> dict[str, str]:
    """NAME → value of every assignment, later ones winning, as systemd builds the environment."""
    out: dict[str, str] = {}
    i, n, line_no = 0, len(text), 1
    while i < n:
        # Start of a line: skip leading whitespace, blank lines and comments.
        while i < n and text[i] in SPACE:
            i += 1
        if i >= n:
            break
        if text[i] == "\n":
            i, line_no = i + 1, line_no + 1
            continue
        if text[i] in "#;":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        start_line = line_no
        eq, eol = text.find("=", i), text.find("\n", i)
        if eq < 0 or (0 <= eol < eq):
            raise EnvFileError(f"{source}, line {start_line}: expected NAME=value")
        name = text[i:eq].strip(SPACE)
        if not NAME.fullmatch(name):
            raise EnvFileError(f"{source}, line {start_line}: {name!r} is not a variable name")
        value, i, line_no = _value(text, eq + 1, line_no, source, start_line)
        out[name] = value
    return out


def _value(text: str, i: int, line_no: int, source: str, start_line: int) -> tuple[str, int, int]:
    """The value starting at ``i`` (just after ``=``); returns it, the index after its line, the line."""
    n = len(text)
    while i < n and text[i] in SPACE:
        i += 1
    if i < n and text[i] in "'\"":
        quote, i, chars = text[i], i + 1, []
        while True:
            if i >= n:
                raise EnvFileError(f"{source}, line {start_line}: unterminated {quote}-quoted value")
            c = text[i]
            if c == quote:
                i += 1
                break
            if c == "\\" and quote == '"' and i + 1 < n:
                nxt = text[i + 1]
                if nxt == "\n":
                    line_no += 1
                elif nxt in '"\\`$':
                    chars.append(nxt)
                else:
                    chars.append(c + nxt)
                i += 2
                continue
            if c == "\n":
                line_no += 1
            chars.append(c)
            i += 1
        # Only whitespace may follow the closing quote.
        end = text.find("\n", i)
        end = n if end < 0 else end
        if text[i:end].strip(SPACE):
            raise EnvFileError(f"{source}, line {line_no}: text after the closing {quote}")
        return "".join(chars), end + 1, line_no + 1
    chars = []
    while i < n and text[i] != "\n":
        c = text[i]
        if c == "\\" and i + 1 < n:
            if text[i + 1] == "\n":
                line_no += 1
            else:
                chars.append(text[i + 1])
            i += 2
            continue
        chars.append(c)
        i += 1
    return "".join(chars).strip(SPACE), i + 1, line_no + 1


def load(path: str | os.PathLike[str], environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Parse ``path`` and set its variables in ``environ`` (``os.environ``) where they are not set
    already, so that ``NAME=… feedsvc …`` still overrides the file for one command. Returns what it set."""
    target = os.environ if environ is None else environ
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvFileError(f"cannot read env file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"env file {p} is not UTF-8") from None
    values = parse(text, str(p))
    set_now = {k: v for k, v in values.items() if k not in target}
    target.update(set_now)
    return set_now
