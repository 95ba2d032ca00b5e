"""oopswatch: watch Linux consoles for kernel oopses and write decoded reports."""

__version__ = "0.1.0"

# Where every command writes its logs, reports and index, and where `reports` reads them.
DEFAULT_OUTPUT = "oopswatch-out"

# New report directories a board may make a minute (0: no limit); see report_worker.py.
DEFAULT_REPORT_BUDGET = 30
