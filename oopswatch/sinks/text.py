"""Human-readable reports, the report body as decode_stacktrace.sh prints it."""

from __future__ import annotations

from oopswatch.decode import DecodedReport


def format_report(decoded: DecodedReport) -> str:
    report = decoded.report
    status = f"corrupted ({decoded.corrupted_reason})" if decoded.corrupted else "complete"
    lines = [
        f"== {decoded.title}",
        f"   kind: {report.kind}{'' if report.crash else ' (not a crash)'}   arch: {report.arch}   {status}",
        f"   {decoded.source}: lines {decoded.start_line}-{decoded.end_line}"
        + (f", kernel time {report.lines[0].kernel_time:.6f}" if report.lines[0].kernel_time is not None else ""),
    ]
    build = decoded.build or {}
    if build.get("name"):
        how = f", chosen by {build['chosen_by']}" if build.get("chosen_by") else ""
        verified = {True: ", verified", False: ", DOES NOT MATCH the kernel", None: ""}[build.get("verified")]
        lines.append(f"   build: {build['name']}{how}{verified}")
    lines.extend(f"   note: {note}" for note in decoded.notes)
    lines.extend(f"   event: {event}" for event in decoded.events)
    lines.append("")
    lines.extend(decoded.text)
    lines.append("")
    return "\n".join(lines)
