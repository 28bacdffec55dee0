# Over-the-air update, the part that is never updated itself: the state file, the swap of a
# staged package at boot, the rollback of a trial that did not confirm, and the confirmation.
# main.py runs boot() before importing the evse package, so a broken update can always be
# rolled back. Pure logic over `os` (no machine/network import): tested on CPython and
# under MicroPython. Every step survives a power loss (README, "Over-the-air updates").
import json
import os

PKG = "lib/evse"  # the installed package (what `import evse` loads)
NEW = "ota_new"  # a staged package (complete once the state file says "staged")
OLD = "ota_old"  # the previous package while a new one is on trial
BAD = "ota_bad"  # a rejected package on its way out
DL = "ota_dl.tar"  # the downloaded bundle
STATE = "ota.json"
TRIAL_BOOTS = 1  # a trial gets this many boots to confirm; the next boot rolls back

_hook = None  # tests: called with a label before every change to the file system


def _op(what):
    if _hook is not None:
        _hook(what)


def path(root, name):
    return root + "/" + name if root else name


def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def rename(a, b):
    _op("rename " + a)
    os.rename(a, b)


def rmtree(p):
    """Removes a file or a directory tree; nothing if it does not exist."""
    try:
        mode = os.stat(p)[0]
    except OSError:
        return
    if mode & 0x4000:
        for name in os.listdir(p):
            rmtree(p + "/" + name)
        _op("rmdir " + p)
        os.rmdir(p)
    else:
        _op("remove " + p)
        os.remove(p)


def read_state(root=""):
    """The state document; {"phase": "idle"} when there is none. A state file missing with a
    complete temporary file beside it is FAT's remove-then-rename window: the new one counts."""
    p = path(root, STATE)
    for name in (p, p + ".tmp"):
        try:
            with open(name) as f:
                doc = json.loads(f.read())
            if isinstance(doc, dict) and "phase" in doc:
                return doc
        except (OSError, ValueError):
            pass
        if exists(p):
            break  # the real file exists but is unreadable: the temporary one is not newer
    return {"phase": "idle"}


def write_state(root, doc):
    """Atomic: a temporary file, then a rename over the old one."""
    p = path(root, STATE)
    _op("write state")
    with open(p + ".tmp", "w") as f:
        f.write(json.dumps(doc))
    _op("commit state " + doc["phase"])
    os.rename(p + ".tmp", p)


def clean(root):
    """Leftovers of an unfinished download, staging, confirmation or rollback."""
    for name in (NEW, OLD, BAD, DL):
        rmtree(path(root, name))


def mark_staged(root, version, old, req=None):
    """`req`: the command's id, carried into every later status of this update."""
    doc = {"phase": "staged", "version": version, "old": old, "status": "Installing"}
    if req:
        doc["id"] = req
    write_state(root, doc)


def boot(root=""):
    """Runs before the evse package is imported. Returns the state document after it:
    phase "trial" (the new package runs and must confirm) or "idle" (with the last result)."""
    st = read_state(root)
    ph = st["phase"]
    pkg, new, old, bad = (path(root, n) for n in (PKG, NEW, OLD, BAD))
    if ph == "staged":
        # s1: package -> old; s2: new -> package; s3: the trial state. Each step is chosen by
        # what exists, so a reboot in between resumes where it stopped.
        if exists(new):
            if exists(pkg) and not exists(old):
                rename(pkg, old)
            if not exists(pkg):
                rename(new, pkg)
        st = {
            "phase": "trial",
            "version": st["version"],
            "old": st.get("old"),
            "boots": 0,
            "status": "Installing",
            "id": st.get("id"),
        }
        write_state(root, st)
        ph = "trial"
    if ph == "trial":
        if st.get("boots", 0) < TRIAL_BOOTS:
            st["boots"] = st.get("boots", 0) + 1
            write_state(root, st)
            return st
        # r1: package -> bad; r2: old -> package; r3: the idle state; then bad removed.
        if exists(old):
            if exists(pkg):
                rmtree(bad)
                rename(pkg, bad)
            rename(old, pkg)
        st = {
            "phase": "idle",
            "version": st.get("old"),
            "status": "InstallationFailed",
            "error": "version {} did not confirm; rolled back".format(st.get("version")),
            "id": st.get("id"),
        }
        write_state(root, st)
    clean(root)
    return st


def confirm(root=""):
    """The new package runs and is healthy: it becomes the installed one. Returns the new
    state document (its version is the manifest's), None when there is no trial."""
    st = read_state(root)
    if st["phase"] != "trial":
        return None
    st = {"phase": "idle", "version": st["version"], "status": "Installed", "id": st.get("id")}
    write_state(root, st)
    rmtree(path(root, OLD))
    return st
