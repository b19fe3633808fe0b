"""What the Docker-driven deploy tests share: commands, logging, waiting."""

import os
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def logger(prefix):
    def log(message):
        print(f"[{prefix}] {message}", flush=True)
    return log


def run(args, check=True, capture=True, env=None, timeout=600):
    """Runs `args` in the repository; its output (stdout and stderr) when captured."""
    result = subprocess.run(args, cwd=REPO, env=env, timeout=timeout, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.STDOUT if capture else None)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}")
    return result.stdout if capture else ""


class GiveUp(Exception):
    """Raised by a predicate when waiting longer cannot help (a container exited)."""


def wait_for(what, predicate, timeout):
    """Polls `predicate` each second until it returns something true (returned)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as error:  # the thing waited for may not exist yet
            last = error
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last})" if last else ""))
