"""The command line: all argparse code (``options``), the entry point and the sub-commands
(``main``), and ``send``'s output (``send``)."""
