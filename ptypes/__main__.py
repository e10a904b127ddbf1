"""``python -m ptypes info|check|dump FILE``: the pmemobj tools on a ptypes storage."""
import sys

from pmemobj.cli import main
from ptypes._inspect import inspector

sys.exit(main(prog="python -m ptypes", opener=inspector))
