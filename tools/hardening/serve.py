"""Start `sage serve` on a free loopback port for the hardening scripts (kill9.py, soak.py)."""
import subprocess
import threading


def start(sage, model, db):
    """The process and its base URL, once it listens; its log is drained in the background."""
    p = subprocess.Popen([sage, "serve", "--listen", "127.0.0.1:0", "--store", db, "--model", model],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if line.startswith("sage serve: "):
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, line.split()[2]
    raise SystemExit("sage serve ended before listening")
