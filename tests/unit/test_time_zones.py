"""The shops' time zones load on a machine with no system time zone database (Windows,
slim container images): zoneinfo then reads the tzdata package, a dependency."""

import os
import subprocess
import sys


def test_the_shops_time_zones_load_without_a_system_time_zone_database():
    env = dict(os.environ, PYTHONTZPATH="")  # no system directories to look in
    code = "from zoneinfo import ZoneInfo; print(ZoneInfo('Africa/Nairobi'), ZoneInfo('Asia/Atyrau'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "Africa/Nairobi Asia/Atyrau\n"), done.stderr
