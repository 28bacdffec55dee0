# Runs test modules with the unittest built into MicroPython and prints one summary line
# that tests/firmware/node/run.mjs parses: MPTESTS ran=N failures=N errors=N skipped=N
import sys
import unittest


def run(names):
    ran = failures = errors = skipped = 0
    for name in names:
        try:
            mod = __import__(name)
        except Exception as e:
            print("IMPORT ERROR", name)
            sys.print_exception(e)
            errors += 1
            continue
        suite = unittest.TestSuite(name)
        suite._load_module(mod)
        res = unittest.TestRunner().run(suite)
        ran += res.testsRun
        failures += res.failuresNum
        errors += res.errorsNum
        skipped += res.skippedNum
    print(f"MPTESTS ran={ran} failures={failures} errors={errors} skipped={skipped}")
    return failures == 0 and errors == 0
