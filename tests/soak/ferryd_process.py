"""The crash soak's ferryd: one process on a private data dir, started, killed
with SIGKILL and started again on the same data dir and, when it can, the
same port. Only the process this object started is ever signalled, by its
pid. Everything here runs on the soak's asyncio loop.
"""

import asyncio
import ctypes
import os
import signal
import sqlite3

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child before exec: SIGKILL when the soak exits, however it
    exits (a ctest timeout included), so no ferryd outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class StartError(Exception):
    """ferryd did not come up (the message has its log's tail)."""


class Ferryd:
    def __init__(self, path, work_dir, extra_args=()):
        self.path = path
        self.dir = work_dir
        self.data_dir = os.path.join(work_dir, "data")
        self.log_path = os.path.join(work_dir, "ferryd.log")
        self.port_file = os.path.join(work_dir, "port")
        self.extra_args = list(extra_args)
        self.port = 0  # 0 until the first start; then kept across restarts
        self.proc = None
        self.starts = 0
        self.kills = 0
        self.early_kills = 0   # killed before it reported its port
        self.port_changes = 0  # restarts that could not have the old port back
        self.died = []         # exit statuses of exits nobody asked for

    async def start(self, wait=True):
        """Starts ferryd on self.port (0: any). With wait, returns once it
        listens (the port file is written after the listening socket is
        bound) and raises StartError if it exits or takes over 30 s. If the
        old port cannot be had again, starts once more on a free one."""
        try:
            os.remove(self.port_file)
        except FileNotFoundError:
            pass
        cmd = [self.path, "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
               "--port-file", self.port_file, "--password-cost", "min",
               # The soak's clients are every user from one address: the
               # abuse limits (docs/security.md) are not what it tests.
               "--limit", "all=off", *self.extra_args]
        with open(self.log_path, "ab") as log:
            log.write(f"==== soak: start {self.starts + 1} on port {self.port}\n".encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_die_with_parent)
        self.starts += 1
        if not wait:
            return
        deadline = asyncio.get_running_loop().time() + 30
        while not os.path.exists(self.port_file):
            if self.proc.returncode is not None:
                if self.port != 0:
                    # Most likely someone else took the port while we were
                    # down: the clients learn the new one when they reconnect.
                    self.port = 0
                    self.port_changes += 1
                    return await self.start()
                raise StartError(f"ferryd exited at start ({self.proc.returncode}):\n"
                                 + self.log_tail())
            if asyncio.get_running_loop().time() > deadline:
                raise StartError("ferryd did not listen within 30 s:\n" + self.log_tail())
            await asyncio.sleep(0.01)  # polls a condition, bounded by the deadline
        with open(self.port_file) as f:
            self.port = int(f.read())

    def running(self):
        return self.proc is not None and self.proc.returncode is None

    async def kill9(self, early=False):
        """SIGKILL, as a crash would: nothing is flushed. An exit before it
        (ferryd died by itself) is recorded in self.died."""
        if self.proc is None:
            return
        if self.proc.returncode is not None:
            self.died.append(self.proc.returncode)
        else:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
            self.kills += 1
            self.early_kills += early
        self.proc = None

    async def stop(self, timeout=30):
        """SIGTERM and wait (bounded) for the exit; returns its status, or
        None if it had to be killed after the timeout."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            await self.kill9()
            return None
        self.proc = None
        return status

    def log_tail(self, size=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def rewind_inbox(self, client_id, to_seq):
        """The planted fault (--plant datadir): while ferryd is down, makes
        ferry.db forget client_id's inbox above to_seq, as a store that lost
        its last commits would (its head falls back to to_seq, so seqs above
        it are handed out again)."""
        assert not self.running()
        db = sqlite3.connect(os.path.join(self.data_dir, "ferry.db"))
        try:
            db.execute("DELETE FROM inbox WHERE client_id = ? AND seq > ?", (client_id, to_seq))
            db.execute("UPDATE clients SET head_seq = min(head_seq, ?2), "
                       "acked_seq = min(acked_seq, ?2) WHERE client_id = ?1",
                       (client_id, to_seq))
            db.commit()
        finally:
            db.close()
