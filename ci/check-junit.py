#!/usr/bin/env python3
"""Check that a JUnit XML report from `brownout run --junit` is well formed and consistent.

Usage: check-junit.py REPORT.xml [--all-passed]

Checks what CI systems (Jenkins, GitLab, GitHub test reporters) rely on: a <testsuites> root
holding <testsuite> elements whose tests/failures/errors/skipped attributes match the
<testcase> elements inside them, every testcase named and classed, every <failure>/<error>
carrying a message. With --all-passed, also that nothing failed, errored or was skipped.
Exits 1 with the first problem found.
"""
import sys
import xml.etree.ElementTree as ET


def fail(msg):
    print(f"check-junit: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    if not args:
        fail("usage: check-junit.py REPORT.xml [--all-passed]")
    path, all_passed = args[0], "--all-passed" in args[1:]
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        fail(f"{path}: not readable XML: {e}")
    if root.tag != "testsuites":
        fail(f"{path}: the root element is <{root.tag}>, not <testsuites>")
    suites = root.findall("testsuite")
    if not suites:
        fail(f"{path}: no <testsuite>")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        name = suite.get("name")
        if not name:
            fail(f"{path}: a <testsuite> without a name")
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for key, n in counted.items():
            declared = suite.get(key)
            if declared is not None and int(declared) != n:
                fail(f"{path}: suite {name!r} says {key}={declared} but holds {n}")
            total[key] += n
        for case in cases:
            if not case.get("name") or not case.get("classname"):
                fail(f"{path}: suite {name!r} has a testcase without name or classname")
            for tag in ("failure", "error"):
                el = case.find(tag)
                if el is not None and not el.get("message"):
                    fail(f"{path}: testcase {case.get('name')!r} has a <{tag}> without a message")
    for key in ("tests", "failures", "errors"):
        declared = root.get(key)
        if declared is not None and int(declared) != total[key]:
            fail(f"{path}: <testsuites> says {key}={declared} but holds {total[key]}")
    if all_passed and (total["failures"] or total["errors"] or total["skipped"]):
        fail(f"{path}: {total['failures']} failed, {total['errors']} errors, {total['skipped']} skipped")
    print(f"check-junit: {path}: {total['tests']} test cases in {len(suites)} suite(s), "
          f"{total['failures']} failed, {total['errors']} errors, {total['skipped']} skipped")


if __name__ == "__main__":
    main()
