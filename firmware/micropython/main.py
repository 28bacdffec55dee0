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

from evse import app  # noqa: E402 - after the update step

app.main(boot=boot)
