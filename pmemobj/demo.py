"""The demo: all three packages on one real pool, a transaction, a crash of a
child process in the middle of a transaction, reopen, state intact.

    python -m pmemobj.demo [POOL_DIR]
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

import pmemobj
from pmemobj import PersistentDict, PersistentList
from sharedbuffers import mapped_struct

CHILD = r"""
import sys, pmemobj
pool = pmemobj.open(sys.argv[1])
accounts = pool.root["accounts"]
with pool.transaction():                  # move 30 from alice to bob ...
    accounts["alice"] -= 30
    print("debited alice, about to credit bob", flush=True)
    sys.stdin.readline()                  # ... and get killed half-way
    accounts["bob"] += 30
"""


class Point:
    """A typed struct, packed by sharedbuffers and read in place from the pool."""
    __slot_types__ = {"x": int, "y": int, "label": str}
    __slots__ = tuple(__slot_types__)

    def __init__(self, x, y, label):
        self.x, self.y, self.label = x, y, label


Point.__schema__ = mapped_struct.Schema.from_typed_slots(Point)


class PointArray(mapped_struct.MappedArrayProxyBase):
    schema = Point.__schema__


def say(msg):
    print(msg, flush=True)


def main(directory):
    path = os.path.join(directory, "demo.pool")
    if os.path.exists(path):
        os.unlink(path)
    say(f"== creating {path}")
    with pmemobj.create(path, pool_size=32 << 20) as pool:
        say(f"   persistence mode: {'pmem (CPU flushes)' if pool.is_pmem else 'emulated (msync)'}")
        with pool.transaction():
            pool.root = pool.new(PersistentDict)
            pool.root["accounts"] = pool.new(PersistentDict, alice=100, bob=50)
            pool.root["log"] = pool.new(PersistentList, ["opened accounts"])
            pool.root["points"] = PointArray.build(
                (Point(i, i * i, f"p{i}") for i in range(1000)), pool=pool)
        say("   accounts: " + repr(dict(pool.root["accounts"])))

        say("== a transaction that fails half-way is rolled back")
        try:
            with pool.transaction():
                pool.root["accounts"]["alice"] -= 500
                pool.root["log"].append("overdraft")
                raise ValueError("insufficient funds")
        except ValueError as e:
            say(f"   aborted ({e}): accounts {dict(pool.root['accounts'])}, log {list(pool.root['log'])}")

    say("== a child process is killed (SIGKILL) in the middle of a transfer")
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    say("   child: " + child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait()
    say(f"   child exit status: {child.returncode} (killed)")

    say("== reopen: the half-done transfer is gone, everything committed is there")
    with pmemobj.open(path) as pool:
        accounts = dict(pool.root["accounts"])
        say(f"   unclean shutdown detected, gc ran: {pool.recovered is not None}")
        say(f"   accounts: {accounts} (total {sum(accounts.values())})")
        assert accounts == {"alice": 100, "bob": 50}, accounts
        points = pool.root["points"]
        say(f"   points (sharedbuffers, read in place from the pool): {len(points)} structs, "
            f"points[7] = ({points[7].x}, {points[7].y}, {points[7].label!r})")
        assert (points[7].x, points[7].y, points[7].label) == (7, 49, "p7")
        with pool.transaction():
            pool.root["accounts"]["alice"] -= 30
            pool.root["accounts"]["bob"] += 30
            pool.root["log"].append("transfer 30")
        say(f"   transfer done properly: {dict(pool.root['accounts'])}")

    demo_ptypes(directory)
    say("== done")


def demo_ptypes(directory):
    from ptypes.storage import Dict, List, Storage

    class AgentStorage(Storage):
        def populateSchema(self):
            class Agent(self.schema.Structure):
                name = self.schema.ByteString
                age = self.schema.Int
            self.define(List("ListOfAgents")[Agent])
            self.define(Dict("AgentsByName")[self.schema.ByteString, Agent])

            class Root(self.schema.Structure):
                agents = self.schema.ListOfAgents
                byName = self.schema.AgentsByName

    path = os.path.join(directory, "agents.ptypes")
    if os.path.exists(path):
        os.unlink(path)
    say(f"== ptypes: a schema-defined storage in {path}")
    p = AgentStorage(path, fileSize=16 << 20, stringRegistrySize=64)
    p.root.agents = p.schema.ListOfAgents()
    p.root.byName = p.schema.AgentsByName()
    for name, age in ((b"Felix Leiter", 31), (b"Miss Moneypenny", 23)):
        agent = p.schema.Agent(name=p.stringRegistry.get(name), age=age)
        p.root.agents.append(agent)
        p.root.byName[agent.name] = agent
    p.root.byName[b"Felix Leiter"].age.inc()
    del agent
    p.close()
    p = Storage(path)                       # the schema is read back from the file
    say("   agents: " + ", ".join(f"{a.name} ({a.age.contents})" for a in p.root.agents))
    p.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(prefix="pmemobj-demo-", dir=base) as d:
            main(d)
