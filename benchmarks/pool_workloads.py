"""The foundation workloads of the systems with pmemobj's pool API (``pool.transaction()``,
``pool.mm.alloc``/``free``, ``pool.root``): this project's pmemobj and pynvm run the same code.

Standard library only: the pynvm workloads import it from their own venv.
"""

from time import perf_counter_ns

from common import measure


def pool_workloads(new_pool, mode_of):
    """empty_tx, alloc_free_64 and root_assign_int on the pools of one system: ``new_pool(dir,
    name)`` is a context manager yielding a new pool, ``mode_of(pool)`` its persistence mode."""

    def empty_tx(dir, n, repeats=3):
        with new_pool(dir, "empty_tx") as pool:

            def trial(k):
                t0 = perf_counter_ns()
                for _ in range(k):
                    with pool.transaction():
                        pass
                return perf_counter_ns() - t0

            return dict(measure(trial, n, repeats), **mode_of(pool))

    def alloc_free_64(dir, n, repeats=3):
        with new_pool(dir, "alloc_free_64") as pool:
            mm = pool.mm

            def trial(k):
                t0 = perf_counter_ns()
                for _ in range(k):
                    with pool.transaction():
                        oid = mm.alloc(64)
                        mm.free(oid)
                return perf_counter_ns() - t0

            return dict(measure(trial, n, repeats), **mode_of(pool))

    def root_assign_int(dir, n, repeats=3):
        with new_pool(dir, "root_assign_int") as pool:

            def trial(k):
                t0 = perf_counter_ns()
                for i in range(k):
                    pool.root = i
                return perf_counter_ns() - t0

            return dict(measure(trial, n, repeats), **mode_of(pool))

    return {"empty_tx": empty_tx, "alloc_free_64": alloc_free_64, "root_assign_int": root_assign_int}
