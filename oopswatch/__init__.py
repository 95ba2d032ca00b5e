"""oopswatch: watch Linux consoles for kernel oopses and write decoded reports."""

__version__ = "0.1.0"
