# A stand-in for MicroPython's `machine` module, enough for evse.hardware. Tests install it
# as sys.modules["machine"] before importing evse.hardware.
PINS = {}
WDTS = []
UARTS = []
IRQ_STATE = [0]


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 2
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, n, mode=None, pull=None, value=None):
        self.n = n
        self.mode = mode
        self.pull = pull
        self.level = 0 if value is None else value
        self.history = [] if value is None else [value]
        self.handler = None
        self.trigger = None
        PINS[n] = self

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.history.append(v)
        return None

    def irq(self, handler=None, trigger=None):
        self.handler = handler
        self.trigger = trigger

    def fire(self):
        self.handler(self)


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        self.pin = pin
        self.freq = freq
        self.duties = [duty_u16]

    def duty_u16(self, v=None):
        if v is None:
            return self.duties[-1]
        self.duties.append(v)
        return None


class ADC:
    ATTN_11DB = 3
    SOURCES = {}  # pin number -> callable returning uV

    def __init__(self, pin):
        self.pin = pin
        self.atten_v = None

    def atten(self, a):
        self.atten_v = a

    def read_uv(self):
        return ADC.SOURCES[self.pin.n]()


class UART:
    def __init__(self, n, baudrate=9600, bits=8, parity=None, stop=1, tx=None, rx=None):
        self.n = n
        self.baudrate = baudrate
        self.written = []
        self.rx = b""
        UARTS.append(self)

    def read(self):
        d = self.rx
        self.rx = b""
        return d or None

    def write(self, b):
        self.written.append(bytes(b))
        return len(b)

    def txdone(self):
        return True


class WDT:
    def __init__(self, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        WDTS.append(self)

    def feed(self):
        self.feeds += 1


def disable_irq():
    IRQ_STATE[0] += 1
    return 1


def enable_irq(state):
    IRQ_STATE[0] -= 1


def idle():
    pass


def reset_all():
    PINS.clear()
    WDTS.clear()
    UARTS.clear()
    ADC.SOURCES.clear()
