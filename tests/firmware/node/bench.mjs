// Figures under MicroPython 1.27 (WebAssembly) for benchmarks/firmware.py: heap after
// importing the firmware modules (gc.mem_alloc after gc.collect), what stays resident after a
// boot as main() does it, the heap per module, and the cost of one safety-loop pass.
// Prints one line: BENCH {json}.
// Usage: node bench.mjs [--fw DIR] [--tests DIR] [--mpy DIR] [--ticks N]
//   --fw DIR: firmware/micropython of another revision (the baseline); --tests DIR: its
//   tests/firmware/mp; --mpy DIR: load the package from DIR/evse/*.mpy (mpy-cross output)
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
const fwDir = opt("--fw", null);
const testsDir = opt("--tests", null);

async function instance() {
  const { mp, out } = await boot(16 * 1024 * 1024, fwDir, testsDir);
  if (mpyDir) {
    for (const f of mp.FS.readdir("/lib/evse")) {
      if (f.endsWith(".py")) mp.FS.unlink(`/lib/evse/${f}`);
    }
    for (const f of readdirSync(join(mpyDir, "evse"))) {
      if (f.endsWith(".mpy")) mp.FS.writeFile(`/lib/evse/${f}`, readFileSync(join(mpyDir, "evse", f)));
    }
  }
  const result = () => JSON.parse(out.filter((l) => l.startsWith("RESULT ")).pop().slice(7));
  // Every measurement is a runPython call of its own: the wasm port's collector scans the C
  // stack conservatively and a snippet's own bytecode lives while it runs, so only between
  // calls is what the firmware holds measured alone.
  const mem = () => {
    mp.runPython("gc.collect()\nprint('MEM', gc.mem_alloc())");
    return Number(out.filter((l) => l.startsWith("MEM ")).pop().slice(4));
  };
  return { mp, result, mem };
}

// The configuration fwsim.config() validates (written out: fwsim imports modules itself).
const CFG =
  '{"node_id": "evse1", "name": "Garage EVSE", "wifi": {"ssid": "home", "password": "s"}, ' +
  '"mqtt": {"host": "192.168.1.10"}, "limits": {"max_current_a": 32, "default_current_a": 16}, ' +
  '"pins": {"pilot_pwm": 27, "pilot_adc": 36, "contactor": 26, "rcd": 35}}';

// 1. What a boot keeps: main() imports app and net, validates the configuration (and drops
//    evse.config where the firmware does), the network worker publishes discovery (and drops
//    its module where the firmware does). Then the safety-loop pass cost.
const i1 = await instance();
i1.mp.runPython("import gc, json, sys");
const base = i1.mem();
i1.mp.runPython("import asyncio");
const aAsyncio = i1.mem();
i1.mp.runPython("from evse import app, net, ha");
i1.mp.runPython(
  "def boot():\n" +
    "    from evse import config\n" +
    `    cfg = config.validate(json.loads(${JSON.stringify(CFG)}))\n` +
    "    if hasattr(ha, 'drop'):\n" +
    "        ha.drop('config')\n" +
    "    return cfg\n" +
    "cfg = boot()\n" +
    "del boot\n",
);
const aBoot = i1.mem();
i1.mp.runPython(
  "def publish():\n" +
    "    n = 0\n" +
    "    for _ in ha.discovery(cfg):\n" +
    "        n += 1\n" +
    "    if hasattr(ha, 'drop'):\n" +
    "        ha.drop('disco')\n" +
    "    return n\n" +
    "n_disc = publish()\n" +
    "del publish\n",
);
const aResident = i1.mem();
i1.mp.runPython(`
from time import ticks_us, ticks_diff
sys.path.insert(0, '/tests')
from evse import compat
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
print("RESULT " + json.dumps({"discovery_messages": n_disc, "tick_us": dt / N,
                             "step_us": dt_step / N, "ticks": N}))
`);
const r1 = {
  heap_base: base,
  heap_asyncio: aAsyncio - base,
  heap_after_validation: aBoot - aAsyncio,
  heap_resident: aResident - aAsyncio,
  ...i1.result(),
};

// 2. Every module imported at once (the figure of earlier reports), and module by module.
const i2 = await instance();
i2.mp.runPython("import gc, json");
i2.mp.runPython("import asyncio");
const start = i2.mem();
let prev = start;
const per = {};
for (const m of ["compat", "limits", "pilot", "thermal", "link", "control", "energy", "modbus",
  "ha", "net", "app", "config", "disco"]) {
  try {
    i2.mp.runPython(`import evse.${m}`);
  } catch (e) {
    continue; // not in this revision
  }
  const x = i2.mem();
  per[m] = x - prev;
  prev = x;
}
const r2 = { heap_all: prev - start, per_module: per, heap_config: per.config };
console.log("BENCH " + JSON.stringify({ source: mpyDir ? "mpy" : "py", ...r1, ...r2 }));
