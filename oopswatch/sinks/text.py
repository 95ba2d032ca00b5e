"""Human-readable reports, the report body as decode_stacktrace.sh prints it."""

from __future__ import annotations

from oopswatch.decode import DecodedReport


def format_report(decoded: DecodedReport) -> str:
    report = decoded.report
    status = f"corrupted ({decoded.corrupted_reason})" if decoded.corrupted else "complete"
    lines = [
        f"== {decoded.title}",
        f"   kind: {report.kind}{'' if report.crash else ' (not a crash)'}   arch: {report.arch}   {status}",
        f"   {decoded.source}: lines {report.start_line}-{report.end_line}"
        + (f", kernel time {report.lines[0].kernel_time:.6f}" if report.lines[0].kernel_time is not None else ""),
    ]
    if decoded.build:
        lines.append(f"   build: {decoded.build.get('name', '?')} ({decoded.build.get('chosen_by', '')})")
    lines.extend(f"   note: {note}" for note in decoded.notes)
    lines.extend(f"   event: {event}" for event in decoded.events)
    lines.append("")
    lines.extend(decoded.text)
    lines.append("")
    return "\n".join(lines)
