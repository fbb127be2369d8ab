"""Coverage-guided fuzzing of the input parsers with atheris (libFuzzer for Python).

One target module per input surface (`fuzz_*.py`, run as `python -m tests.fuzz.fuzz_uart`);
`run.py` runs them all in subprocesses; `test_atheris.py` is the short CI run. Longer, by hand:

    .venv/bin/python tests/fuzz/run.py --runs 1000000 --minutes 10
"""
