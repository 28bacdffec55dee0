# MicroPython runs this file at boot. Everything lives in the evse package (lib/evse).
from evse import app

app.main()
