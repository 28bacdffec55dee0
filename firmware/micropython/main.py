# MicroPython runs this file at boot. otaboot (never updated itself) first finishes or rolls
# back an over-the-air update; then everything lives in the evse package (lib/evse).
import sys

try:
    import otaboot

    boot = otaboot.boot()
except Exception as e:  # a file system problem must not keep the EVSE from starting
    print("OTA boot step failed:", e)
    boot = None
sys.modules.pop("otaboot", None)  # evse.ota imports it again when an update runs

# A version on trial must never stop at the REPL: until its safety loop starts the watchdog,
# nothing else would reset the board, and only the next boot rolls the update back. So an
# import error in the new package, an exception while it starts, or app.main() returning
# (configuration refused, `nostart`) resets the board here. This file is never updated over
# the air, so it cannot rely on evse.hardware for the reset.
trial = boot is not None and boot.get("phase") == "trial"
try:
    from evse import app

    app.main(boot=boot)
except BaseException as e:
    if not trial:
        raise
    print("version on trial failed, the next boot rolls back:", repr(e))
finally:
    if trial:
        import machine

        machine.reset()
