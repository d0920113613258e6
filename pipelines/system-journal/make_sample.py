#!/usr/bin/env python3
"""Writes sample.export: the events of ../system/sample.log as journald holds
them, in the journal export format (systemd-journal-remote turns it into a
journal file). See ../NOTICE.md for the mapping.

Usage: python3 make_sample.py < ../system/sample.log > sample.export
"""
import calendar
import re
import sys

YEAR = 2017
HOST = "ip-10-77-20-248"
BOOT_ID = "8f3c2a1e5b6d4c7e9a0b1c2d3e4f5a6b"
MACHINE_ID = "1d2e3f4a5b6c4d7e8f9a0b1c2d3e4f5a"
BOOT_AT = calendar.timegm((YEAR, 3, 27, 0, 0, 0))
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

LINE = re.compile(r"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\S+) (.*)$")
TAG = re.compile(r"^([^\s\[:]+)(?:\[(\d+)\])?: (.*)$")
KERNEL_TIME = re.compile(r"^\[\s*\d+\.\d+\] ")
REPEATED = re.compile(r"^message repeated (\d+) times: \[ ?(.*)\]$")

# (facility, unit, comm, transport) by identifier.
PROGRAMS = {
    "kernel": (0, None, None, "kernel"),
    "sshd": (4, "ssh.service", "sshd", "syslog"),
    "sudo": (10, None, "sudo", "syslog"),
    "CRON": (10, "cron.service", "cron", "syslog"),
    "systemd-logind": (4, "systemd-logind.service", "systemd-logind", "syslog"),
}


def priority(ident, pid, message):
    if ident == "kernel":
        if "invoked oom-killer" in message:
            return 4
        if "segfault" in message:
            return 6
        return 3
    if ident == "sudo":
        if "NOT in sudoers" in message or "incorrect password" in message:
            return 1
        return 5 if "COMMAND=" in message or "authentication failure" in message else 6
    if ident == "sshd" and message.startswith("error:"):
        return 3
    if ident == "systemd" and pid == "1":
        if "Failed with result" in message or "entered failed state" in message:
            return 4
        return 5 if "Main process exited" in message else 6
    return 6


def main():
    out = sys.stdout
    last_second, within = None, 0
    for raw in sys.stdin:
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            raise SystemExit(f"not a syslog line: {raw!r}")
        mon, day, hh, mm, ss, host, rest = m.groups()
        t = TAG.match(rest)
        if not t:
            raise SystemExit(f"no tag: {raw!r}")
        ident, pid, message = t.groups()
        if ident == "kernel":
            message = KERNEL_TIME.sub("", message)
        count = 1
        r = REPEATED.match(message)
        if r:
            count, message = int(r.group(1)), r.group(2)
        second = calendar.timegm(
            (YEAR, MONTHS.index(mon) + 1, int(day), int(hh), int(mm), int(ss))
        )
        for _ in range(count):
            within = within + 1 if second == last_second else 0
            last_second = second
            realtime = second * 1_000_000 + within
            if ident == "systemd" and pid == "1":
                facility, unit, comm, transport = 3, "init.scope", "systemd", "journal"
            elif ident == "systemd":
                facility, unit, comm, transport = 10, None, "systemd", "syslog"
            else:
                facility, unit, comm, transport = PROGRAMS[ident]
            fields = [
                ("__REALTIME_TIMESTAMP", realtime),
                ("__MONOTONIC_TIMESTAMP", realtime - BOOT_AT * 1_000_000),
                ("_BOOT_ID", BOOT_ID),
                ("_MACHINE_ID", MACHINE_ID),
                ("_HOSTNAME", host),
                ("_TRANSPORT", transport),
                ("PRIORITY", priority(ident, pid, message)),
                ("SYSLOG_FACILITY", facility),
                ("SYSLOG_IDENTIFIER", ident),
            ]
            if pid:
                fields += [("SYSLOG_PID", pid), ("_PID", pid)]
            if comm:
                fields.append(("_COMM", comm))
            if unit:
                fields.append(("_SYSTEMD_UNIT", unit))
            if ident == "systemd" and pid == "1":
                fields.append(("UNIT", message.split(":", 1)[0]))
            fields.append(("MESSAGE", message))
            for k, v in fields:
                out.write(f"{k}={v}\n")
            out.write("\n")


main()
