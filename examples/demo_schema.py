"""The classes whose objects the demo's pool holds, in a module of their own:
another process (the demo's crashing child, ``python -m pmemobj dump``) finds
them by import, as a pool names its classes by module and name."""
from ptypes.storage import Dict, List, Storage
from sharedbuffers import mapped_struct


class Point:
    """A typed struct, packed by sharedbuffers and read in place from the pool."""
    __slot_types__ = {"x": int, "y": int, "label": str}
    __slots__ = tuple(__slot_types__)

    def __init__(self, x, y, label):
        self.x, self.y, self.label = x, y, label


Point.__schema__ = mapped_struct.Schema.from_typed_slots(Point)


class PointArray(mapped_struct.MappedArrayProxyBase):
    schema = Point.__schema__


class AgentStorage(Storage):
    """A ptypes storage: agents in a list and by name."""

    def populateSchema(self):
        class Agent(self.schema.Structure):
            name = self.schema.ByteString
            age = self.schema.Int
        self.define(List("ListOfAgents")[Agent])
        self.define(Dict("AgentsByName")[self.schema.ByteString, Agent])

        class Root(self.schema.Structure):
            agents = self.schema.ListOfAgents
            byName = self.schema.AgentsByName
