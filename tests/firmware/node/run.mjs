// Runs the firmware's unittest modules (tests/firmware/mp/test_*.py) under MicroPython 1.27
// (npm @micropython/micropython-webassembly-pyscript) in Node. The firmware package is
// written to /lib/evse in the wasm file system, the tests and helpers to /tests.
// Exit code 0 only when every test passed; the last line is the summary from mp_main.py:
//   MPTESTS ran=N failures=N errors=N skipped=N
// Usage: node run.mjs [test_module ...]
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const defaultFwDir = join(root, "firmware", "micropython");
const defaultMpTests = join(root, "tests", "firmware", "mp");

let loadMicroPython;
try {
  ({ loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript"));
} catch (e) {
  console.error(
    "MicroPython wasm package missing: run `bash scripts/ci-firmware.sh` " +
      "(npm ci in tests/firmware/node).",
  );
  process.exit(3);
}

// fw / tests: another revision's firmware/micropython and tests/firmware/mp (the benchmark's
// baseline); by default this checkout's.
export async function boot(heapsize = 8 * 1024 * 1024, fw = null, tests = null) {
  const fwDir = fw || defaultFwDir;
  const mpTests = tests || defaultMpTests;
  const out = [];
  const mp = await loadMicroPython({
    heapsize,
    linebuffer: true,
    stdout: (line) => {
      out.push(line);
      process.stdout.write(line + "\n");
    },
    stderr: (line) => process.stderr.write(line + "\n"),
  });
  mp.FS.mkdirTree("/lib/evse");
  mp.FS.mkdirTree("/tests");
  if (existsSync(join(fwDir, "otaboot.py"))) {
    mp.FS.writeFile("/lib/otaboot.py", readFileSync(join(fwDir, "otaboot.py")));
  }
  for (const f of readdirSync(join(fwDir, "evse"))) {
    if (f.endsWith(".py")) mp.FS.writeFile(`/lib/evse/${f}`, readFileSync(join(fwDir, "evse", f)));
  }
  for (const f of readdirSync(mpTests)) {
    if (f.endsWith(".py") && f !== "__init__.py") {
      mp.FS.writeFile(`/tests/${f}`, readFileSync(join(mpTests, f)));
    }
  }
  mp.FS.writeFile("/tests/config.example.json", readFileSync(join(fwDir, "config.example.json")));
  return { mp, out };
}

async function main() {
  let names = process.argv.slice(2);
  if (names.length === 0) {
    names = readdirSync(defaultMpTests)
      .filter((f) => /^test_.*\.py$/.test(f))
      .map((f) => f.slice(0, -3))
      .sort();
  }
  const { mp, out } = await boot();
  const t0 = Date.now();
  try {
    mp.runPython(
      "import sys\nsys.path.insert(0, '/tests')\nimport mp_main\n" +
        `mp_main.run(${JSON.stringify(names)})\n`,
    );
  } catch (e) {
    console.error("MicroPython raised:", e.message || e);
    process.exit(2);
  }
  const summary = out.filter((l) => l.startsWith("MPTESTS ")).pop();
  console.log(`(MicroPython wasm run: ${Date.now() - t0} ms)`);
  if (!summary) {
    console.error("no MPTESTS summary line");
    process.exit(2);
  }
  const m = /ran=(\d+) failures=(\d+) errors=(\d+) skipped=(\d+)/.exec(summary);
  const [ran, failures, errors] = [m[1], m[2], m[3]].map(Number);
  process.exit(ran > 0 && failures === 0 && errors === 0 ? 0 : 1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
