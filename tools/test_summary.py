#!/usr/bin/env python3
"""Totals every test case of a `bazel test` run from its build-event JSON file.

Usage: test_summary.py BEP_JSON_FILE [EXTRA_FAILURES]

gtest targets contribute their test cases (from each shard's test.xml); other
tests (sh_test) count as one case each. A test target that failed to build,
timed out or crashed without a test.xml counts as one failed case. Prints one
line per failing target, then "N passed, M failed" as the last line; exits 1
if anything failed.
"""
import json
import sys
import urllib.parse
import xml.etree.ElementTree as ET


def xml_counts(path):
    """(cases, failures) from a JUnit XML file written by gtest or Bazel."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases = failures = 0
    for s in suites:
        for case in s.iter("testcase"):
            if case.get("status") == "notrun" or case.find("skipped") is not None:
                continue
            cases += 1
            if case.find("failure") is not None or case.find("error") is not None:
                failures += 1
    return cases, failures


def main():
    bep_path = sys.argv[1]
    extra_failures = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    results = {}  # label -> list of (status, xml path or None)
    test_targets = set()
    with open(bep_path) as f:
        for line in f:
            ev = json.loads(line)
            eid = ev.get("id", {})
            if "testResult" in eid:
                label = eid["testResult"]["label"]
                tr = ev.get("testResult", {})
                xml = None
                for out in tr.get("testActionOutput", []):
                    if out.get("name") == "test.xml":
                        uri = out.get("uri", "")
                        xml = urllib.parse.unquote(urllib.parse.urlparse(uri).path)
                results.setdefault(label, []).append((tr.get("status", "NO_STATUS"), xml))
            elif "testSummary" in eid:
                test_targets.add(eid["testSummary"]["label"])
            elif "targetConfigured" in eid:
                if "testSize" in ev.get("configured", {}):
                    test_targets.add(eid["targetConfigured"]["label"])

    passed = failed = 0
    for label in sorted(test_targets | set(results)):
        runs = results.get(label)
        if not runs:
            print(f"FAILED (did not run or build): {label}")
            failed += 1
            continue
        for status, xml in runs:
            cases = fails = 0
            if xml:
                try:
                    cases, fails = xml_counts(xml)
                except (OSError, ET.ParseError):
                    cases = fails = 0
            if status != "PASSED" and fails == 0:
                # Crashed, timed out or failed outside a test case.
                fails, cases = 1, max(cases, 1)
            if cases == 0:
                cases = 1
            if fails:
                print(f"FAILED ({status}, {fails} case(s)): {label}")
            passed += cases - fails
            failed += fails
    failed += extra_failures
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
