"""Find the inputs a list of paths names: files, directories expanded, "-" for stdin.

Directories are expanded recursively in a fixed order: each directory's files sorted by name, then
its subdirectories sorted by name. Hidden entries (a name starting with "."), symbolic links to
directories, and whatever an `--exclude` pattern matches are skipped. Inside a directory only
regular files are opened: a FIFO, socket or device found there becomes a failure (reading a FIFO
would block the run forever). Files named explicitly are always read (`<(cmd)` is a pipe).
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase

from brandscan.engine.text.inputs import DEFAULT_SUFFIXES, STDIN, DocumentFailure, Origin, ReadOptions

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def display_path(path: str) -> str:
    """`path` as valid Unicode: bytes of a file name that are not UTF-8 are shown as `\\xNN`."""
    try:
        raw = os.fsencode(path)  # the undecodable bytes come back from their surrogate escapes
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


def _failure(argument: str, path: str, error: str) -> DocumentFailure:
    return DocumentFailure(display_path(path), error, origin=Origin(argument, path))


def sources_of(argument: str, options: ReadOptions) -> Iterator[str | DocumentFailure]:
    """What one path argument names: itself, the files of a directory, or a failure."""
    if argument == STDIN:
        yield argument
        return
    try:
        mode = os.stat(argument).st_mode
    except FileNotFoundError:
        broken = os.path.islink(argument)
        yield _failure(argument, argument, "broken symbolic link" if broken else "no such file or directory")
        return
    except OSError as error:
        yield _failure(argument, argument, f"cannot access: {error.strerror or error}")
        return
    if stat.S_ISDIR(mode):
        yield from _walk(argument, options)
    else:
        yield argument


def iter_sources(paths: Sequence[str], options: ReadOptions) -> Iterator[str | DocumentFailure]:
    """Every source named by `paths`, in order: directories expanded, "-" kept, missing paths failed."""
    for path in paths:
        yield from sources_of(path, options)


def unmatched(paths: Sequence[str], options: ReadOptions) -> list[str]:
    """The directory arguments in which nothing matched. Each walk stops at its first match, so
    this costs a full walk only where the run would have found nothing anyway."""
    empty = []
    for path in paths:
        if path != STDIN and os.path.isdir(path) and next(_walk(path, options), None) is None:
            empty.append(path)
    return empty


def patterns(options: ReadOptions) -> str:
    """What a directory is searched for, for a message: "*.txt, *.md" or the --glob patterns."""
    shown = options.globs or tuple(f"*{suffix}" for suffix in DEFAULT_SUFFIXES)
    text = ", ".join(shown)
    if options.excludes:
        text += " (excluding " + ", ".join(options.excludes) + ")"
    return text


def _walk(root: str, options: ReadOptions) -> Iterator[str | DocumentFailure]:
    errors: list[OSError] = []
    for top, dirs, files in os.walk(root, onerror=errors.append):
        yield from _listing_failures(errors, root)
        relative_top = os.path.relpath(top, root).replace(os.sep, "/")

        def relative(name: str, top: str = relative_top) -> str:
            return name if top == "." else f"{top}/{name}"

        dirs[:] = sorted(
            name for name in dirs if not name.startswith(".") and not _matches(name, relative(name), options.excludes)
        )
        for name in sorted(files):
            if name.startswith(".") or _matches(name, relative(name), options.excludes):
                continue
            if options.globs and not _matches(name, relative(name), options.globs):
                continue
            if not options.globs and os.path.splitext(name)[1].lower() not in DEFAULT_SUFFIXES:
                continue
            path = os.path.join(top, name)
            problem = _not_regular(path)
            yield path if problem is None else _failure(root, path, problem)
    yield from _listing_failures(errors, root)


def _not_regular(path: str) -> str | None:
    """Why `path` is not a regular file to open, or None when it is one (links are followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(path) else "no such file or directory"
    except OSError as error:
        return f"cannot access: {error.strerror or error}"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a file")
    return f"not a regular file ({kind}), skipped"


def _listing_failures(errors: list[OSError], root: str) -> Iterator[DocumentFailure]:
    while errors:
        error = errors.pop(0)
        yield _failure(root, str(error.filename or root), f"cannot list directory: {error.strerror or error}")


def _matches(name: str, relative: str, globs: Sequence[str]) -> bool:
    return any(_match(name, relative, glob) for glob in globs)


def _match(name: str, relative: str, glob: str) -> bool:
    if "/" not in glob:
        return fnmatchcase(name, glob)
    # A pattern with a directory part matches the path relative to the directory given; a leading
    # "**/" also matches at the top, as in shell globstar.
    return fnmatchcase(relative, glob) or (glob.startswith("**/") and fnmatchcase(relative, glob[3:]))
