"""The demo: all three packages on one real pool, a transaction, a crash of a
child process in the middle of a transaction, reopen, state intact, and the
pool as ``python -m pmemobj dump`` shows it.

    python examples/demo.py [POOL_DIR]      (what ./run demo runs)
"""
import os
import signal
import subprocess
import sys
import tempfile

import pmemobj
from demo_schema import AgentStorage, Point, PointArray
from pmemobj import PersistentDict, PersistentList
from ptypes.storage import Storage

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import sys, pmemobj
from ptypes.storage import Storage
pool = pmemobj.open(sys.argv[1])
agents = Storage(pool=pool, name="agents")  # the schema is read back from the pool
accounts = pool.root["accounts"]
with pool.transaction():                  # move 30 from alice to bob, log it in ptypes ...
    accounts["alice"] -= 30
    agents.root.byName[b"Miss Moneypenny"].age.inc()
    print("debited alice, about to credit bob", flush=True)
    sys.stdin.readline()                  # ... and get killed half-way
    accounts["bob"] += 30
"""


def say(msg):
    print(msg, flush=True)


def ages(agents):
    return ", ".join(f"{a.name.contents.decode()} {a.age.contents}" for a in agents.root.agents)


def main(directory):
    path = os.path.join(directory, "demo.pool")
    if os.path.exists(path):
        os.unlink(path)
    say(f"== creating {path}: pmemobj collections, a sharedbuffers array and a ptypes storage")
    with pmemobj.create(path, pool_size=32 << 20) as pool:
        say(f"   persistence mode: {'pmem (CPU flushes)' if pool.is_pmem else 'emulated (msync)'}")
        with pool.transaction():
            pool.root = pool.new(PersistentDict)
            pool.root["accounts"] = pool.new(PersistentDict, alice=100, bob=50)
            pool.root["log"] = pool.new(PersistentList, ["opened accounts"])
            pool.root["points"] = PointArray.build(
                (Point(i, i * i, f"p{i}") for i in range(1000)), pool=pool)
        agents = AgentStorage(pool=pool, name="agents")     # kept in pool.root["agents"]
        with pool.transaction():
            agents.root.agents = agents.schema.ListOfAgents()
            agents.root.byName = agents.schema.AgentsByName()
            for name, age in ((b"Felix Leiter", 31), (b"Miss Moneypenny", 23)):
                agent = agents.schema.Agent(name=agents.stringRegistry.get(name), age=age)
                agents.root.agents.append(agent)
                agents.root.byName[agent.name] = agent
            del agent
        say("   accounts: " + repr(dict(pool.root["accounts"])))
        say("   agents (ptypes): " + ages(agents))

        say("== a transaction over all three that fails half-way is rolled back")
        try:
            with pool.transaction():
                pool.root["accounts"]["alice"] -= 500
                pool.root["log"].append("overdraft")
                agents.root.byName[b"Felix Leiter"].age.inc()
                pool.root["points"] = PointArray.build([Point(0, 0, "gone")], pool=pool)
                raise ValueError("insufficient funds")
        except ValueError as e:
            say(f"   aborted ({e}): accounts {dict(pool.root['accounts'])}, log {list(pool.root['log'])}, "
                f"agents {ages(agents)}, {len(pool.root['points'])} points")
        agents.close()

    say("== a child process is killed (SIGKILL) in the middle of a transfer")
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    say("   child: " + child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait()
    say(f"   child exit status: {child.returncode} (killed)")

    say("== reopen: the half-done transfer is gone, everything committed is there")
    with pmemobj.open(path) as pool:
        agents = Storage(pool=pool, name="agents")      # the schema is read back from the pool
        accounts = dict(pool.root["accounts"])
        say(f"   unclean shutdown detected, gc ran: {pool.recovered is not None}")
        say(f"   accounts: {accounts} (total {sum(accounts.values())})")
        say(f"   agents: {ages(agents)}")
        assert accounts == {"alice": 100, "bob": 50}, accounts
        assert ages(agents) == "Felix Leiter 31, Miss Moneypenny 23", ages(agents)
        points = pool.root["points"]
        say(f"   points (sharedbuffers, read in place from the pool): {len(points)} structs, "
            f"points[7] = ({points[7].x}, {points[7].y}, {points[7].label!r})")
        assert (points[7].x, points[7].y, points[7].label) == (7, 49, "p7")
        del points
        with pool.transaction():
            pool.root["accounts"]["alice"] -= 30
            pool.root["accounts"]["bob"] += 30
            pool.root["log"].append("transfer 30")
            agents.root.byName[b"Miss Moneypenny"].age.inc()
        say(f"   transfer done properly: {dict(pool.root['accounts'])}, agents {ages(agents)}")
        agents.close()

    # the tools of the core show all three packages' objects (their classes are imported from here)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")])))
    for tool in (["pmemobj", "dump", "--max-items", "4"], ["ptypes", "dump", "--name", "agents"]):
        say(f"== python -m {' '.join(tool)} {path}")
        dump = subprocess.run([sys.executable, "-m", *tool, path], env=env, stdout=subprocess.PIPE, text=True,
                              check=True)
        for line in dump.stdout.splitlines():
            say("   " + line)
    say("== done")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(prefix="pmemobj-demo-", dir=base) as d:
            main(d)
