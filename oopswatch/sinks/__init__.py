"""Report writers: text like decode_stacktrace.sh, JSON, JUnit XML, raw console logs."""
