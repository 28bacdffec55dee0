// Figures under MicroPython 1.27 (WebAssembly) for benchmarks/firmware.py: heap after
// importing the firmware modules (gc.mem_alloc after gc.collect) and the cost of one
// safety-loop pass. Prints one line: BENCH {json}.
// Usage: node bench.mjs [--mpy DIR] [--ticks N]
//   --mpy DIR: load the firmware from DIR/evse/*.mpy (mpy-cross output) instead of .py
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { boot } from "./run.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const mpyDir = opt("--mpy", null);
const ticks = Number(opt("--ticks", "20000"));

const lines = [];
const { mp } = await boot(16 * 1024 * 1024);
if (mpyDir) {
  for (const f of mp.FS.readdir("/lib/evse")) {
    if (f.endsWith(".py")) mp.FS.unlink(`/lib/evse/${f}`);
  }
  for (const f of readdirSync(join(mpyDir, "evse"))) {
    if (f.endsWith(".mpy")) mp.FS.writeFile(`/lib/evse/${f}`, readFileSync(join(mpyDir, "evse", f)));
  }
}
mp.runPython(`
import gc, sys, json
from time import ticks_us, ticks_diff
sys.path.insert(0, '/tests')
gc.collect(); base = gc.mem_alloc()
import asyncio
gc.collect(); a_asyncio = gc.mem_alloc()
from evse import compat, pilot, limits, thermal, link, energy, modbus, control, ha, net, app
gc.collect(); a_resident = gc.mem_alloc()
from evse import config
gc.collect(); a_all = gc.mem_alloc()
del config
sys.modules.pop("evse.config")
import evse
del evse.config  # what app.main() does after validating the configuration
gc.collect(); a_dropped = gc.mem_alloc()

import fwsim
rig_cfg = fwsim.config()
hw = fwsim.FakeHardware()
now = fwsim.START
a = app.App(rig_cfg, hw, now)
hw.car.state = "B"
for i in range(50):
    hw.t = i * 20
    a.tick(now)
    now = compat.ticks_add(now, 20)
hw.car.state = "C"
for i in range(50, 100):
    hw.t = i * 20
    a.tick(now)
    now = compat.ticks_add(now, 20)
assert hw.contactor
N = ${ticks}
gc.collect()
t0 = ticks_us()
for i in range(N):
    a.tick(now)
    now = compat.ticks_add(now, 20)
dt = ticks_diff(ticks_us(), t0)
e = a.evse
inp = a.inp
t0 = ticks_us()
for i in range(N):
    e.step(now, inp)
    now = compat.ticks_add(now, 20)
dt_step = ticks_diff(ticks_us(), t0)
assert e.contactor
print("BENCH " + json.dumps({
    "source": "${mpyDir ? "mpy" : "py"}",
    "heap_base": base,
    "heap_asyncio": a_asyncio - base,
    "heap_resident": a_resident - a_asyncio,
    "heap_config": a_all - a_resident,
    "heap_all": a_all - a_asyncio,
    "heap_after_boot": a_dropped - a_asyncio,
    "tick_us": dt / N,
    "step_us": dt_step / N,
    "ticks": N,
}))
`);
