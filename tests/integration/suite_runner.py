"""The command-line runner every real-MTA test module shares.

run(module, label, class_order, cleanup): runs the named tests (argv) or every class in
class_order, its unittest output on stderr, then prints one line "LABEL: N passed, M failed" on
stdout (what run.sh and make check add up); SIGTERM/Ctrl-C still run cleanup.
"""
import signal
import sys
import unittest


class CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def _sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def run(module, label, class_order, cleanup, argv=None):
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return _run(module, label, class_order, sys.argv[1:] if argv is None else argv)
    finally:
        cleanup()


def _run(module, label, class_order, argv):
    loader = unittest.TestLoader()
    if argv:
        suite = unittest.TestSuite(loader.loadTestsFromName(n, module) for n in argv)
    else:
        suite = unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in class_order)
        missing = [n for n in dir(module) if isinstance(getattr(module, n), type)
                   and issubclass(getattr(module, n), unittest.TestCase)
                   and getattr(module, n).__dict__.get("__test__", True)
                   and loader.getTestCaseNames(getattr(module, n)) and getattr(module, n) not in class_order]
        if missing:
            raise SystemExit("test classes missing from the class order: %s" % missing)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr, resultclass=CountingResult).run(suite)
    # failures + errors (including setUpModule/setUpClass errors) + unexpected successes
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    sys.stderr.flush()
    print("%s: %d passed, %d failed" % (label, result.passed, failed), flush=True)
    return 0 if failed == 0 and result.passed > 0 else 1
