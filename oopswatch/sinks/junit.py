"""JUnit XML for CI systems: one test case per boot (or per watched board), failed
when it produced a crash report; the failure text is the decoded report."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.decode import DecodedReport
from oopswatch.sinks.text import format_report


@dataclass
class TestCase:
    name: str
    classname: str
    seconds: float
    reports: list[DecodedReport] = field(default_factory=list)
    failure: str | None = None  # why the case failed, when it did
    error: str | None = None  # the case could not run (QEMU missing, ...)
    system_out: str = ""


def write_junit(path: str | os.PathLike[str], suite: str, cases: list[TestCase]) -> None:
    root = ET.Element("testsuites")
    element = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                            failures=str(sum(case.failure is not None for case in cases)),
                            errors=str(sum(case.error is not None for case in cases)),
                            time=f"{sum(case.seconds for case in cases):.3f}")
    for case in cases:
        node = ET.SubElement(element, "testcase", name=case.name, classname=case.classname,
                             time=f"{case.seconds:.3f}")
        if case.error is not None:
            ET.SubElement(node, "error", message=case.error).text = case.error
        elif case.failure is not None:
            body = "\n".join(format_report(report) for report in case.reports) or case.failure
            ET.SubElement(node, "failure", message=case.failure, type="kernel").text = body
        if case.system_out:
            ET.SubElement(node, "system-out").text = case.system_out
    ET.indent(root)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(target.suffix + ".tmp")
    ET.ElementTree(root).write(temporary, encoding="utf-8", xml_declaration=True)
    temporary.replace(target)
