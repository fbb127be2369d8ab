"""What every atheris target shares: its seeds written into the corpus, then libFuzzer's loop.

Kept free of project imports: a target must import the code under test inside
`atheris.instrument_imports()`, which only instruments modules loaded for the first time.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

import atheris


def write_seeds(corpus: Path, seeds: Iterable[bytes]) -> None:
    """Each seed as a file named by its hash (rewriting one is harmless)."""
    corpus.mkdir(parents=True, exist_ok=True)
    for data in seeds:
        (corpus / f"seed-{hashlib.sha256(data).hexdigest()[:16]}").write_bytes(data)


def write_dictionary(path: Path, tokens: Iterable[bytes]) -> None:
    """libFuzzer's -dict format: one quoted token a line, every byte as a hex escape."""
    path.write_text("".join('"' + "".join(f"\\x{b:02x}" for b in t) + '"\n' for t in tokens))


def fuzz(
    one_input: Callable[[bytes], None],
    seeds: Iterable[bytes],
    dictionary: Iterable[bytes] = (),
) -> NoReturn:
    """libFuzzer's loop over `one_input`, flags from the command line.

    The first positional argument is the corpus directory (created, seeds added); without one
    a temporary corpus holds the seeds. A positional file is an input to replay (a crash file):
    it is run alone. `dictionary`: tokens the mutator splices in (-dict=), kept beside the corpus.
    """
    argv = list(sys.argv)
    paths = [Path(a) for a in argv[1:] if not a.startswith("-")]
    if not paths:
        paths = [Path(tempfile.mkdtemp(prefix="hazgw-fuzz-"))]
        argv.append(str(paths[0]))
    if not paths[0].is_file():
        write_seeds(paths[0], seeds)
        tokens = list(dictionary)
        if tokens and not any(a.startswith("-dict=") for a in argv):
            path = paths[0].with_name(paths[0].name + ".dict")
            write_dictionary(path, tokens)
            argv.insert(1, f"-dict={path}")
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    raise SystemExit(0)  # not reached: libFuzzer exits the process
