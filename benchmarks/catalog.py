"""The workload catalog: every workload's sizes, baseline, targets and report group, and the
systems that run them.  run_all.py runs it; comparison.py and report.py present what it measured.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """``system``'s ``metric`` over ``reference``'s stays within ``ratio`` (below 1: faster)."""

    system: str
    reference: str
    ratio: float
    metric: str = "ns_per_op"

    def label(self):
        what = "" if self.metric == "ns_per_op" else "%s: " % self.metric.replace("_", " ")
        if self.ratio < 1:
            return "%s≥ %gx faster than %s" % (what, round(1 / self.ratio, 2), self.reference)
        return "%s≤ %gx %s" % (what, self.ratio, self.reference)


@dataclass(frozen=True)
class Workload:
    title: str
    n: int  # operations per timed repeat
    quick_n: int
    baseline: str  # ratios are ns/op over this system's
    targets: tuple = ()  # Target objects
    group: str = "foundation"  # the section of the report it appears in
    max_n: dict = field(default_factory=dict)  # system -> fewer operations (a slow peer)

    def n_for(self, system, quick):
        n = self.quick_n if quick else self.n
        return min(n, self.max_n.get(system, n))


GROUPS = {
    "foundation": "Transactions and allocation",
    "collections": "Persistent collections (pmemobj.PersistentDict, PersistentList)",
    "ptypes": "ptypes (typed schema on the same pools)",
    "sharedbuffers": "sharedbuffers against upstream sharedbuffers 1.2.3",
}

def upstream_race(title, n, quick_n, compare_size=False):
    """A sharedbuffers workload whose target is upstream 1.2.3's speed (and, compare_size, file size)."""
    targets = [Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0)]
    if compare_size:
        targets.append(Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0, "bytes_per_struct"))
    return Workload(title, n, quick_n, "sharedbuffers-1.2.3", tuple(targets), group="sharedbuffers")


# The catalog: a workload runs on every system whose script lists it.
WORKLOADS = {
    "empty_tx": Workload("empty transaction", 200_000, 5_000, "c", (Target("pmemobj", "c", 4.0),)),
    "alloc_free_64": Workload("alloc + free of 64 bytes in a transaction", 200_000, 5_000, "c",
                              (Target("pmemobj", "c", 1.5),)),
    "root_assign_int": Workload("root = int, own transaction", 200_000, 5_000, "c", (Target("pmemobj", "c", 1.5),)),
    "dict_insert_int": Workload("d[i] = i, own transaction each", 20_000, 1_000, "c",
                                (Target("pmemobj", "c", 2.0), Target("pmemobj", "pynvm", 1 / 30)),
                                group="collections"),
    "dict_insert_str": Workload("d[20-char str] = i, own transaction each", 20_000, 1_000, "c",
                                (Target("pmemobj", "c", 2.0), Target("pmemobj", "pynvm", 1 / 30)),
                                group="collections"),
    "list_append_tx": Workload("1,000,000 appends of small ints in one transaction (per append)", 1_000_000,
                               10_000, "c", (Target("pmemobj", "pynvm", 1 / 100), Target("ptypes", "pmemobj", 2.0)),
                               group="collections", max_n={"pynvm": 20_000}),
    "dict_get_int": Workload("d[k] of existing int keys (100,000 entries)", 200_000, 5_000, "builtin",
                             (Target("pmemobj", "builtin", 5.0),), group="collections", max_n={"pynvm": 20_000}),
    "list_iter": Workload("iteration over a list of 1,000,000 small ints (per item)", 1_000_000, 10_000,
                          "builtin", (Target("ptypes", "pmemobj", 2.0),), group="collections",
                          max_n={"pynvm": 100_000}),
    "list_iter_contents": Workload("iteration over a list of 1,000,000 small ints, reading each number "
                                   "(ptypes: x.contents)", 1_000_000, 10_000, "builtin",
                                   (Target("ptypes", "pmemobj", 2.0),), group="ptypes"),
    "field_inc": Workload("Int field += 1 (ptypes inc()), own transaction", 200_000, 5_000, "c",
                          (Target("ptypes", "c", 2.0),), group="ptypes"),
    "dict_get_bytes": Workload("d[k] of existing 20-byte bytes keys (100,000 entries)", 200_000, 5_000, "c",
                               (Target("ptypes", "pmemobj", 2.0),), group="ptypes"),
    "sorted_insert": Workload("100,000 inserts of ints in random order into a sorted collection, one "
                              "transaction (ptypes SkipList; builtin: bisect.insort)", 100_000, 5_000, "builtin",
                              group="ptypes"),
    "sorted_get": Workload("sl[k] of existing keys of a sorted collection of 100,000 ints (ptypes SkipList; "
                           "builtin: bisect)", 200_000, 5_000, "builtin", group="ptypes"),
    "sb_build": Workload("build() of 100,000 structs into a file (per struct)", 100_000, 2_000,
                         "sharedbuffers-1.2.3",
                         (Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0),
                          Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0, "bytes_per_struct")),
                         group="sharedbuffers"),
    "sb_attr_read": Workload("1,000,000 random attribute reads through proxies", 1_000_000, 10_000,
                             "sharedbuffers-1.2.3", (Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0),),
                             group="sharedbuffers"),
    "sb_mapping_get": Workload("100,000 lookups in a str-keyed mapping", 100_000, 2_000, "sharedbuffers-1.2.3",
                               (Target("sharedbuffers", "sharedbuffers-1.2.3", 1.0),), group="sharedbuffers"),
    "sb_build_wide": upstream_race("build() of 50,000 structs of sized numbers, dates, a proxied_list and an "
                                   "ndarray (per struct)", 50_000, 2_000, compare_size=True),
    "sb_read_sized": upstream_race("arr[i] and four sized-number slots, random i (per struct)", 200_000, 5_000),
    "sb_read_datetime": upstream_race("arr[i] and its datetime and date slots, random i (per struct)", 200_000,
                                      5_000),
    "sb_read_plist": upstream_race("arr[i].pl[2], a proxied_list slot's item, random i", 200_000, 5_000),
    "sb_read_ndarray": upstream_race("arr[i].nd, an ndarray slot, random i", 200_000, 5_000),
    "sb_bsearch": upstream_race("bsearch() in a sorted uint64 array of 1,000,000, random keys", 200_000, 5_000),
    "sb_index_merge": upstream_race("index_merge() of two sorted (n/2, 2) uint64 tables (per row)", 2_000_000,
                                    20_000),
}


@dataclass
class System:
    name: str
    description: str
    pmem: bool  # runs on libpmem: measured once per PMEM_IS_PMEM_FORCE setting
    command: list = None  # argv prefix; the workload and its options follow
    env: dict = field(default_factory=dict)
    workloads: list = field(default_factory=list)
    unavailable: str = ""
