"""The CI harness around a watched console: shell sessions over pexpect (prompt, login,
a command's output and exit status), the reports that came during each command, known
issues, baseline comparison, and the pytest plugin.

The harness never decides what is a crash: the watcher's detector does. It never reads a
port either: the watcher is the one reader, and hands the harness every byte it logged.
"""
