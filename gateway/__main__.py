"""`python -m gateway` is `hazgw`."""

from gateway.cli import main

main()
